//! Section specs as the command line takes them: numpy order and semantics, `1600:1950,2000:2250`, `0,:,:`, `::2,-100:`.

use ndarray::SliceInfoElem;

/// Parses a numpy-style section spec for an array of `shape` into ndarray slice elements.
///
/// Items are comma-separated: an integer index (negative counts from the
/// end), `start:stop[:step]` with any part omitted, or `...` for all
/// remaining axes. Missing trailing items select whole axes. Unlike numpy,
/// bounds past the axis are errors rather than clamped, so a typo does not
/// silently read something else.
///
/// ```
/// use fits_array::parse_section_spec;
/// use ndarray::SliceInfoElem as E;
/// let s = parse_section_spec("0,::2", &[3, 4, 5]).unwrap();
/// assert_eq!(s, vec![E::Index(0), E::Slice { start: 0, end: None, step: 2 }, E::Slice { start: 0, end: None, step: 1 }]);
/// ```
pub fn parse_section_spec(spec: &str, shape: &[usize]) -> Result<Vec<SliceInfoElem>, String> {
    let spec = spec.trim();
    let items: Vec<&str> = if spec.is_empty() { Vec::new() } else { spec.split(',').map(str::trim).collect() };
    let ellipses = items.iter().filter(|i| **i == "...").count();
    if ellipses > 1 {
        return Err("a section spec can hold one '...' at most".into());
    }
    let explicit = items.len() - ellipses;
    if explicit > shape.len() {
        return Err(format!("the spec has {explicit} items, the image has {} axes", shape.len()));
    }
    let full = SliceInfoElem::Slice { start: 0, end: None, step: 1 };
    let mut out = Vec::with_capacity(shape.len());
    for item in &items {
        if *item == "..." {
            out.extend(std::iter::repeat_n(full, shape.len() - explicit));
            continue;
        }
        let axis = out.len();
        out.push(parse_item(item, shape[axis]).map_err(|e| format!("axis {axis} ({item:?}): {e}"))?);
    }
    while out.len() < shape.len() {
        out.push(full);
    }
    Ok(out)
}

fn parse_int(text: &str) -> Result<Option<isize>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<isize>().map(Some).map_err(|_| format!("{t:?} is not an integer"))
}

fn parse_item(item: &str, len: usize) -> Result<SliceInfoElem, String> {
    if !item.contains(':') {
        let i = parse_int(item)?.ok_or("empty item")?;
        return Ok(SliceInfoElem::Index(i));
    }
    let parts: Vec<&str> = item.split(':').collect();
    if parts.len() > 3 {
        return Err("too many ':'".into());
    }
    let start = parse_int(parts[0])?;
    let stop = parse_int(parts[1])?;
    let step = match parts.get(2) {
        Some(s) => parse_int(s)?.unwrap_or(1),
        None => 1,
    };
    if step == 0 {
        return Err("step must not be zero".into());
    }
    if step > 0 {
        return Ok(SliceInfoElem::Slice { start: start.unwrap_or(0), end: stop, step });
    }
    // numpy's negative step runs from `start` (default: last) down to just after `stop` (default: through 0).
    let n = len as isize;
    let abs = |i: isize| if i < 0 { i + n } else { i };
    let first = start.map(abs).unwrap_or(n - 1);
    let after = stop.map(abs).unwrap_or(-1);
    if len == 0 || first < 0 || first >= n {
        return Err(format!("start {} is out of bounds for length {len}", start.unwrap_or(n - 1)));
    }
    if after < -1 || after >= n {
        return Err(format!("stop {} is out of bounds for length {len}", stop.unwrap_or(-1)));
    }
    let lo = (after + 1).min(first + 1);
    Ok(SliceInfoElem::Slice { start: lo, end: Some(first + 1), step })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, ArrayD, IxDyn};

    fn numpy_like(spec: &str, a: &ArrayD<i32>) -> ArrayD<i32> {
        let elems = parse_section_spec(spec, a.shape()).unwrap();
        a.slice(elems.as_slice()).to_owned()
    }

    #[test]
    fn forms() {
        let a = Array::from_shape_fn(IxDyn(&[4, 5, 6]), |d| (d[0] * 100 + d[1] * 10 + d[2]) as i32);
        assert_eq!(numpy_like("", &a), a);
        assert_eq!(numpy_like("1", &a).shape(), &[5, 6]);
        assert_eq!(numpy_like("0,:,:", &a).shape(), &[5, 6]);
        assert_eq!(numpy_like(":,2,3", &a).as_slice().unwrap(), &[23, 123, 223, 323]);
        assert_eq!(numpy_like("::2,-2:", &a).shape(), &[2, 2, 6]);
        assert_eq!(numpy_like("...,0", &a).shape(), &[4, 5]);
        assert_eq!(numpy_like("1,...,0", &a).shape(), &[5]);
        // numpy: a[3:0:-1] -> 3, 2, 1 ; a[::-2] -> 3, 1 ; a[-1::-3] -> 3, 0
        let col = |spec: &str| numpy_like(&format!("{spec},0,0"), &a).iter().map(|v| v / 100).collect::<Vec<_>>();
        assert_eq!(col("3:0:-1"), [3, 2, 1]);
        assert_eq!(col("::-2"), [3, 1]);
        assert_eq!(col("-1::-3"), [3, 0]);
        assert_eq!(col("2::-1"), [2, 1, 0]);
        assert_eq!(col("0:3:-1"), Vec::<i32>::new());
    }

    #[test]
    fn errors() {
        assert!(parse_section_spec("1,2,3,4", &[4, 5, 6]).unwrap_err().contains("4 items"));
        assert!(parse_section_spec("x", &[4]).unwrap_err().contains("not an integer"));
        assert!(parse_section_spec("::0", &[4]).unwrap_err().contains("zero"));
        assert!(parse_section_spec("...,...", &[4]).is_err());
        assert!(parse_section_spec("9::-1", &[4]).unwrap_err().contains("out of bounds"));
        assert!(parse_section_spec("1:2:3:4", &[4]).is_err());
    }
}
