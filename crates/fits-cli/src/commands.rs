//! The commands of the contract: info, header, layout, cutout, stats (and demo, in its own module).

use crate::source::{Session, select, select_image};
use crate::{Cli, Command};
use anyhow::{Context, Result, bail};
use fits::core::HduKind;
use fits::{Hdu, Image, Section, Stats, WriteOptions, parse_section_spec, with_array_data};
use ndarray::IxDyn;
use serde_json::{Value, json};

pub(crate) async fn run(cli: Cli) -> Result<()> {
    let mut session = Session::new(cli.profile, cli.profile_json.clone(), cli.anon, cli.concurrency);
    match cli.command {
        Command::Info { src, json } => info(&mut session, &src, json).await?,
        Command::Header { src, hdu } => header(&mut session, &src, hdu.as_deref()).await?,
        Command::Layout { src, json } => layout(&mut session, &src, json).await?,
        Command::Cutout { src, hdu, section, output, overwrite } => {
            let fits = session.open_for_section(&src, hdu.as_deref(), section.as_deref()).await?;
            let image = select_image(&fits, hdu.as_deref())?;
            let sec = section_of(&image, section.as_deref())?;
            let summary = fits::write_cutout(&sec, &output, WriteOptions { overwrite, ..Default::default() }).await?;
            eprintln!(
                "wrote {} ({} {:?}, {} bytes)",
                output.display(),
                summary.dtype,
                summary.shape,
                summary.file_bytes
            );
        }
        Command::Stats { src, hdu, section, per_plane, json } => {
            let fits = session.open_for_section(&src, hdu.as_deref(), section.as_deref()).await?;
            let image = select_image(&fits, hdu.as_deref())?;
            let sec = section_of(&image, section.as_deref())?;
            stats(&sec, per_plane, json).await?;
        }
        Command::Copy { src, dst, hdu, overwrite } => {
            crate::copy::run(&mut session, &src, &dst, &hdu, overwrite).await?
        }
        Command::Compress { src, dst, options, hdu, overwrite } => {
            crate::pack::compress(&mut session, &src, &dst, &options, &hdu, overwrite).await?
        }
        Command::Decompress { src, dst, overwrite } => {
            crate::pack::decompress(&mut session, &src, &dst, overwrite).await?
        }
        Command::Demo { keep } => crate::demo::run(&mut session, keep).await?,
    }
    session.finish()
}

/// The section a `--section` spec selects (the whole image without one).
pub(crate) fn section_of(image: &Image, spec: Option<&str>) -> Result<Section<IxDyn>> {
    let whole = image.section();
    let Some(spec) = spec else { return Ok(whole) };
    let elems = parse_section_spec(spec, image.shape()).map_err(|e| {
        anyhow::anyhow!("{}: HDU {}: --section {spec:?}: {e}", image.hdu().location(), image.hdu().index())
    })?;
    Ok(whole.slice(elems.as_slice())?)
}

fn shape_text(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(usize::to_string).collect();
    if parts.len() == 1 { format!("({},)", parts[0]) } else { format!("({})", parts.join(", ")) }
}

/// Shape and type of an HDU for `info`: image shape and dtype, table rows and columns.
fn describe(hdu: &Hdu) -> (Value, Value, String, String) {
    let h = hdu.header();
    match hdu.kind() {
        HduKind::Primary | HduKind::Image | HduKind::CompressedImage => match hdu.image() {
            Ok(img) => {
                let dtype = if img.ndim() == 0 { None } else { Some(img.dtype().name()) };
                (json!(img.shape()), json!(dtype), shape_text(img.shape()), dtype.unwrap_or("-").to_string())
            }
            Err(e) => (Value::Null, Value::Null, format!("error: {e}"), "-".into()),
        },
        HduKind::BinaryTable | HduKind::AsciiTable => {
            let rows = h.int("NAXIS2").ok().flatten().unwrap_or(0);
            let cols = h.int("TFIELDS").ok().flatten().unwrap_or(0);
            (json!([rows]), Value::Null, format!("{rows}R x {cols}C"), "-".into())
        }
        HduKind::RandomGroups => match hdu.groups() {
            Ok(g) => {
                let i = g.info();
                let mut shape = vec![i.gcount];
                shape.extend(&i.shape);
                let dtype = i.scaling.physical_dtype(i.bitpix).name();
                (
                    json!(shape),
                    json!(dtype),
                    format!("{} groups x {} params x {}", i.gcount, i.pcount, shape_text(&i.shape)),
                    dtype.into(),
                )
            }
            Err(e) => (Value::Null, Value::Null, format!("error: {}", e), "-".into()),
        },
        _ => (Value::Null, Value::Null, "-".into(), "-".into()),
    }
}

/// One line of `fits info`.
struct InfoRow {
    index: usize,
    name: String,
    version: i64,
    kind: String,
    shape: Value,
    dtype: Value,
    shape_text: String,
    dtype_text: String,
}

async fn info(session: &mut Session, src: &str, as_json: bool) -> Result<()> {
    let fits = session.open(src).await?;
    let rows: Vec<InfoRow> = fits
        .hdus()
        .iter()
        .map(|h| {
            let (shape, dtype, shape_text, dtype_text) = describe(h);
            InfoRow {
                index: h.index(),
                name: h.name(),
                version: h.version(),
                kind: h.kind().to_string(),
                shape,
                dtype,
                shape_text,
                dtype_text,
            }
        })
        .collect();
    if as_json {
        let list: Vec<Value> = rows
            .iter()
            .map(|r| json!({"index": r.index, "name": r.name, "version": r.version, "kind": r.kind, "shape": r.shape, "dtype": r.dtype}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let name_w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let shape_w = rows.iter().map(|r| r.shape_text.len()).max().unwrap_or(5).max(5);
    println!("{:>5}  {:<name_w$}  {:<10}  {:<shape_w$}  dtype", "index", "name", "kind", "shape");
    for r in &rows {
        println!("{:>5}  {:<name_w$}  {:<10}  {:<shape_w$}  {}", r.index, r.name, r.kind, r.shape_text, r.dtype_text);
    }
    Ok(())
}

async fn header(session: &mut Session, src: &str, hdu: Option<&str>) -> Result<()> {
    let fits = session.open_for(src, hdu).await?;
    let hdu = select(&fits, hdu)?;
    // A parsed header keeps its record bytes: this is the file's header, byte for byte, without another read.
    let bytes = hdu.header().to_bytes()?;
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 80);
    for record in bytes.chunks(80) {
        let line: String = record.iter().map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '?' }).collect();
        out.push_str(&line);
        out.push('\n');
        if record.starts_with(b"END ") || record == b"END" {
            break;
        }
    }
    print!("{out}");
    Ok(())
}

async fn layout(session: &mut Session, src: &str, as_json: bool) -> Result<()> {
    let fits = session.open(src).await?;
    let rows = fits::bench::layout(&fits);
    if as_json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", fits::bench::render_layout(&rows));
    }
    Ok(())
}

/// The JSON object of one statistics result.
fn stats_json(shape: &[usize], s: &Stats) -> Value {
    let num = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    json!({
        "shape": shape,
        "count": s.count,
        "sum": num(s.sum()),
        "min": num(s.min),
        "max": num(s.max),
        "mean": num(s.mean()),
        "std": num(s.std()),
        "nan": s.nan,
    })
}

fn stats_text(shape: &[usize], s: &Stats) -> String {
    format!(
        "shape {}  count {}  sum {}  min {}  max {}  mean {}  std {}  nan {}",
        shape_text(shape),
        s.count,
        s.sum(),
        s.min,
        s.max,
        s.mean(),
        s.std(),
        s.nan
    )
}

/// Stored bytes per chunk read by `stats`: bounds memory (two chunks are held at a time).
const STATS_CHUNK_BYTES: usize = 64 << 20;

/// The chunks of a section along its first axis: whole planes when they fit a chunk, else runs of rows.
/// Each chunk is tagged with its plane (0 for all when not per plane).
fn chunks(sec: &Section<IxDyn>, per_plane: bool) -> Result<Vec<(usize, Section<IxDyn>)>> {
    let shape = sec.shape();
    if shape.is_empty() {
        return Ok(vec![(0, sec.clone())]);
    }
    let elem = sec.image().bitpix().size();
    let mut out = Vec::new();
    if per_plane {
        for k in 0..shape[0] {
            let plane = sec.slice_axis(0, ndarray::Slice::from(k..k + 1))?;
            let plane_bytes = shape[1..].iter().product::<usize>() * elem;
            if plane_bytes <= STATS_CHUNK_BYTES || shape.len() < 2 {
                out.push((k, plane));
            } else {
                let rows = plane.shape()[1];
                let step = (STATS_CHUNK_BYTES / (plane_bytes / rows.max(1)).max(1)).max(1);
                for r in (0..rows).step_by(step) {
                    out.push((k, plane.slice_axis(1, ndarray::Slice::from(r..(r + step).min(rows)))?));
                }
            }
        }
    } else {
        let row_bytes = shape[1..].iter().product::<usize>() * elem;
        let step = (STATS_CHUNK_BYTES / row_bytes.max(1)).max(1);
        for r in (0..shape[0]).step_by(step) {
            out.push((0, sec.slice_axis(0, ndarray::Slice::from(r..(r + step).min(shape[0])))?));
        }
    }
    Ok(out)
}

/// Reads the chunks in order with the next one in flight while `f` works on the current one.
async fn for_each_prefetched(
    chunks: Vec<(usize, Section<IxDyn>)>,
    mut f: impl FnMut(usize, fits::ArrayData<IxDyn>) -> Result<()>,
) -> Result<()> {
    let start = |s: Section<IxDyn>| tokio::spawn(async move { s.read_dyn().await });
    let mut chunks = chunks.into_iter();
    let mut pending = chunks.next().map(|(k, s)| (k, start(s)));
    while let Some((k, handle)) = pending.take() {
        pending = chunks.next().map(|(k, s)| (k, start(s)));
        let data = handle.await.context("a read task failed")??;
        f(k, data)?;
    }
    Ok(())
}

fn add(stats: &mut Stats, data: &fits::ArrayData<IxDyn>) {
    with_array_data!(data, a => match a.as_slice() {
        Some(s) => stats.add(s),
        None => stats.add(&a.iter().copied().collect::<Vec<_>>()),
    });
}

async fn stats(sec: &Section<IxDyn>, per_plane: bool, as_json: bool) -> Result<()> {
    let shape = sec.shape();
    if per_plane && shape.is_empty() {
        bail!("--per-plane needs at least one axis; the section is a single value");
    }
    let plane_shape = if per_plane { shape[1..].to_vec() } else { shape.clone() };
    let mut planes: Vec<Value> = Vec::new();
    let mut current: Option<(usize, Stats)> = None;
    let mut emit = |k: usize, s: &Stats| {
        if as_json {
            planes.push(stats_json(&plane_shape, s));
        } else if per_plane {
            println!("plane {k}: {}", stats_text(&plane_shape, s));
        } else {
            println!("{}", stats_text(&plane_shape, s));
        }
    };
    for_each_prefetched(chunks(sec, per_plane)?, |k, data| {
        match &mut current {
            Some((j, s)) if *j == k => add(s, &data),
            _ => {
                if let Some((j, s)) = current.take() {
                    emit(j, &s);
                }
                let mut s = Stats::new();
                add(&mut s, &data);
                current = Some((k, s));
            }
        }
        Ok(())
    })
    .await?;
    match current.take() {
        Some((j, s)) => emit(j, &s),
        None => emit(0, &Stats::new()),
    }
    if as_json {
        if per_plane {
            println!("{}", json!({ "planes": planes }));
        } else if let Some(one) = planes.first() {
            println!("{one}");
        }
    }
    Ok(())
}
