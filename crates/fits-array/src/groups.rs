//! Random-groups HDUs: per-group parameters and arrays.

use crate::error::Result;
use crate::fits::Hdu;
use crate::plan::AxisRange;
use crate::read::read_selection;
use fits_core::{Conversion, Element, GroupsInfo, HduKind};
use ndarray::{Array2, ArrayD, IxDyn};

/// A random-groups HDU (`GROUPS = T`).
#[derive(Debug, Clone)]
pub struct Groups {
    hdu: Hdu,
    info: GroupsInfo,
}

impl Groups {
    pub(crate) fn new(hdu: Hdu) -> Result<Groups> {
        if *hdu.kind() != HduKind::RandomGroups {
            return Err(hdu.wrong_kind("random groups"));
        }
        let info = GroupsInfo::from_header(hdu.header()).map_err(|e| hdu.format_error(e))?;
        Ok(Groups { hdu, info })
    }

    /// The group structure.
    pub fn info(&self) -> &GroupsInfo {
        &self.info
    }

    /// The stored layout as a 2-D table: one row per group, parameters then array.
    fn table_shape(&self) -> [usize; 2] {
        [self.info.gcount, self.info.pcount + self.info.group_len()]
    }

    /// Every group's array, physical values, shape `[GCOUNT, NAXISn, ..., NAXIS2]`.
    pub async fn read_data<T: Element>(&self) -> Result<ArrayD<T>> {
        let conv = Conversion::physical(self.info.bitpix, self.info.scaling);
        let sel = [
            AxisRange::full(self.info.gcount),
            AxisRange { start: self.info.pcount, step: 1, len: self.info.group_len() },
        ];
        let values =
            read_selection::<T>(&self.hdu, &self.table_shape(), self.hdu.layout().data_start, &sel, &conv).await?;
        let mut dims = vec![self.info.gcount];
        dims.extend_from_slice(&self.info.shape);
        ArrayD::from_shape_vec(IxDyn(&dims), values).map_err(|e| crate::Error::Slice {
            location: self.hdu.location().to_string(),
            hdu: self.hdu.index(),
            reason: e.to_string(),
        })
    }

    /// Every group's parameters with PSCALn and PZEROn applied, shape `[GCOUNT, PCOUNT]`.
    pub async fn read_parameters(&self) -> Result<Array2<f64>> {
        let conv = Conversion::raw(self.info.bitpix);
        let sel = [AxisRange::full(self.info.gcount), AxisRange { start: 0, step: 1, len: self.info.pcount }];
        let mut values: Vec<f64> = match self.info.bitpix {
            fits_core::Bitpix::F64 => {
                read_selection::<f64>(&self.hdu, &self.table_shape(), self.hdu.layout().data_start, &sel, &conv).await?
            }
            _ => {
                let physical = Conversion::physical(self.info.bitpix, fits_core::Scaling::default());
                read_selection::<f64>(&self.hdu, &self.table_shape(), self.hdu.layout().data_start, &sel, &physical)
                    .await?
            }
        };
        let p = self.info.pcount.max(1);
        for (i, v) in values.iter_mut().enumerate() {
            let (_, s) = &self.info.params[i % p];
            *v = *v * s.bscale + s.bzero;
        }
        Array2::from_shape_vec((self.info.gcount, self.info.pcount), values).map_err(|e| crate::Error::Slice {
            location: self.hdu.location().to_string(),
            hdu: self.hdu.index(),
            reason: e.to_string(),
        })
    }
}
