//! The commands of the contract: info, header, layout, cutout, stats (and demo, in its own module).

use crate::source::{Session, select, select_image};
use crate::{Cli, Command};
use anyhow::{Context, Result, bail};
use fits::core::HduKind;
use fits::{Hdu, Image, Section, Stats, WriteOptions, parse_section_spec, with_array_data};
use ndarray::IxDyn;
use serde_json::{Value, json};

pub(crate) async fn run(cli: Cli) -> Result<()> {
    let mut session = Session::new(cli.profile, cli.profile_json.clone(), cli.anon);
    match cli.command {
        Command::Info { src, json } => info(&mut session, &src, json).await?,
        Command::Header { src, hdu } => header(&mut session, &src, hdu.as_deref()).await?,
        Command::Layout { src, json } => layout(&mut session, &src, json).await?,
        Command::Cutout { src, hdu, section, output, overwrite } => {
            let fits = session.open_for(&src, hdu.as_deref()).await?;
            let image = select_image(&fits, hdu.as_deref())?;
            let sec = section_of(&image, section.as_deref())?;
            let summary = fits::write_cutout(&sec, &output, WriteOptions { overwrite }).await?;
            eprintln!(
                "wrote {} ({} {:?}, {} bytes)",
                output.display(),
                summary.dtype,
                summary.shape,
                summary.file_bytes
            );
        }
        Command::Stats { src, hdu, section, per_plane, json } => {
            let fits = session.open_for(&src, hdu.as_deref()).await?;
            let image = select_image(&fits, hdu.as_deref())?;
            let sec = section_of(&image, section.as_deref())?;
            stats(&sec, per_plane, json).await?;
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
    let bytes = hdu.header_bytes().await?;
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

/// Raw bytes per chunk when summarizing a whole section: bounds memory.
const STATS_CHUNK_BYTES: usize = 32 << 20;

/// Accumulates the statistics of a section, reading it in chunks along its first axis.
async fn accumulate(sec: &Section<IxDyn>, into: &mut Stats) -> Result<()> {
    let shape = sec.shape();
    if shape.is_empty() {
        let data = sec.read_dyn().await?;
        with_array_data!(&data, a => into.add(&a.iter().copied().collect::<Vec<_>>()));
        return Ok(());
    }
    let row_bytes: usize = shape[1..].iter().product::<usize>() * sec.image().dtype().size();
    let rows_per_chunk = (STATS_CHUNK_BYTES / row_bytes.max(1)).max(1);
    let mut start = 0;
    while start < shape[0] {
        let end = (start + rows_per_chunk).min(shape[0]);
        let chunk = sec.slice_axis(0, ndarray::Slice::from(start..end))?;
        let data = chunk.read_dyn().await?;
        with_array_data!(&data, a => match a.as_slice() {
            Some(s) => into.add(s),
            None => into.add(&a.iter().copied().collect::<Vec<_>>()),
        });
        start = end;
    }
    Ok(())
}

async fn stats(sec: &Section<IxDyn>, per_plane: bool, as_json: bool) -> Result<()> {
    let shape = sec.shape();
    if !per_plane {
        let mut s = Stats::new();
        accumulate(sec, &mut s).await?;
        if as_json {
            println!("{}", stats_json(&shape, &s));
        } else {
            println!("{}", stats_text(&shape, &s));
        }
        return Ok(());
    }
    if shape.is_empty() {
        bail!("--per-plane needs at least one axis; the section is a single value");
    }
    let mut planes = Vec::new();
    for k in 0..shape[0] {
        let plane = sec.slice_axis(0, ndarray::Slice::from(k..k + 1)).context("selecting a plane")?;
        let mut s = Stats::new();
        accumulate(&plane, &mut s).await?;
        let plane_shape = &shape[1..];
        if as_json {
            planes.push(stats_json(plane_shape, &s));
        } else {
            println!("plane {k}: {}", stats_text(plane_shape, &s));
        }
    }
    if as_json {
        println!("{}", json!({ "planes": planes }));
    }
    Ok(())
}
