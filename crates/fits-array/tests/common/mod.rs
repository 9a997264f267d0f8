//! Helpers shared by the integration tests: in-memory FITS files and a recording driver.
#![allow(dead_code, unreachable_pub)]

use async_trait::async_trait;
use bytes::Bytes;
use fits_array::Fits;
use fits_core::{Card, DType, Element, Header, write::image_header};
use fits_io::{MemoryDriver, ObjectInfo, StorageDriver};
use std::ops::Range;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A FITS file in memory: a primary HDU with `values` of `shape` (numpy order), plus extra cards.
pub fn fits_bytes<T: Element>(shape: &[usize], values: &[T], extra: &[(&str, fits_core::Value)]) -> Vec<u8> {
    let mut h: Header = image_header(T::DTYPE, shape, true);
    for (k, v) in extra {
        h.set(k, v.clone());
    }
    let mut out = h.to_bytes().unwrap();
    T::encode(values, &mut out);
    out.resize(out.len().div_ceil(2880) * 2880, 0);
    out
}

/// Appends an IMAGE extension.
pub fn push_extension<T: Element>(file: &mut Vec<u8>, shape: &[usize], values: &[T], name: &str) {
    let mut h = image_header(T::DTYPE, shape, false);
    h.push(Card::new("EXTNAME", name));
    file.extend(h.to_bytes().unwrap());
    T::encode(values, file);
    file.resize(file.len().div_ceil(2880) * 2880, 0);
}

/// A driver that records every range it is asked for.
#[derive(Debug)]
pub struct Recording {
    inner: MemoryDriver,
    pub log: Mutex<Vec<Range<u64>>>,
}

impl Recording {
    pub fn new(bytes: Vec<u8>) -> Arc<Recording> {
        Arc::new(Recording { inner: MemoryDriver::new("mem.fits", bytes), log: Mutex::new(Vec::new()) })
    }
    pub fn take(&self) -> Vec<Range<u64>> {
        std::mem::take(&mut self.log.lock().unwrap())
    }
}

#[async_trait]
impl StorageDriver for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }
    fn location(&self) -> &str {
        self.inner.location()
    }
    async fn stat(&self) -> fits_io::Result<ObjectInfo> {
        self.inner.stat().await
    }
    async fn read_range(&self, range: Range<u64>) -> fits_io::Result<Bytes> {
        self.log.lock().unwrap().push(range.clone());
        self.inner.read_range(range).await
    }
    async fn read_ranges(&self, ranges: &[Range<u64>]) -> fits_io::Result<Vec<Bytes>> {
        self.log.lock().unwrap().extend(ranges.iter().cloned());
        self.inner.read_ranges(ranges).await
    }
}

pub async fn open_memory(bytes: Vec<u8>) -> Fits {
    Fits::from_driver(Arc::new(MemoryDriver::new("mem.fits", bytes))).await.unwrap()
}

pub fn dtype_of<T: Element>() -> DType {
    T::DTYPE
}

/// Whether a tool runs (`NAME -H`); without it a check is skipped with a message, unless
/// FITS_REQUIRE_TOOLS is set, which makes it a failure.
pub fn tool_ok(name: &str) -> bool {
    match Command::new(name).arg("-H").output() {
        Ok(_) => true,
        Err(e) if std::env::var_os("FITS_REQUIRE_TOOLS").is_some() => panic!("{name} is required: {e}"),
        Err(_) => {
            eprintln!("{name} not installed: skipping its checks");
            false
        }
    }
}

/// Runs fitsverify on a file, which must pass (skipped without the tool, as [`tool_ok`]).
pub fn fitsverify(path: &Path) {
    if !tool_ok("fitsverify") {
        return;
    }
    let out = Command::new("fitsverify").arg("-q").arg(path).output().expect("fitsverify runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("verification OK"), "fitsverify {}: {text}", path.display());
}

/// Checks that every HDU read through `remote` has the layout, header and values it has in
/// `local` (tile-compressed images included, bit for bit); returns the images compared.
pub async fn same_as_local(local: &Fits, remote: &Fits, name: &str) -> usize {
    assert_eq!(local.len(), remote.len(), "{name}");
    let mut images = 0;
    for (a, b) in local.hdus().iter().zip(remote.hdus()) {
        assert_eq!(a.layout(), b.layout(), "{name}");
        assert_eq!(a.header(), b.header(), "{name}");
        if let (Ok(ia), Ok(ib)) = (a.image(), b.image()) {
            if ia.is_empty() {
                continue;
            }
            let bits =
                |d: fits_array::ArrayData<ndarray::IxDyn>| d.to_f64().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(ia.read_dyn().await.unwrap()),
                bits(ib.read_dyn().await.unwrap_or_else(|e| panic!("{name}: {e}"))),
                "{name} HDU {}",
                a.index()
            );
            images += 1;
        }
    }
    images
}
