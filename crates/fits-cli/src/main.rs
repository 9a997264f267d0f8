//! The `fits` command-line tool: inspect, cut and summarize FITS files, local or remote.

mod commands;
mod copy;
mod demo;
mod pack;
mod source;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Inspect, cut and summarize FITS files, local or remote.
#[derive(Debug, Parser)]
#[command(name = "fits", version, about, long_about = None)]
struct Cli {
    /// Print every request (offset, length, time) and a summary on stderr.
    #[arg(long, global = true)]
    profile: bool,
    /// Write the request log as JSON to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    profile_json: Option<PathBuf>,
    /// Unsigned requests to object stores (public buckets); also AWS_SKIP_SIGNATURE=true.
    #[arg(long, global = true)]
    anon: bool,
    /// Requests in flight at once per remote file (default: the driver's, see docs/remote.md).
    #[arg(long, global = true, value_name = "N")]
    concurrency: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One line per HDU: index, name, kind, shape, dtype.
    Info {
        /// A path, file://, http(s):// or s3://bucket/key source.
        src: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The header cards of an HDU as 80-column text.
    Header {
        /// A path, file://, http(s):// or s3://bucket/key source.
        src: String,
        /// HDU index, EXTNAME or EXTNAME,EXTVER (default: the first HDU with data).
        #[arg(long)]
        hdu: Option<String>,
    },
    /// Where each HDU's header and data lie: header_start, data_start, data_len, data_span.
    Layout {
        /// A path, file://, http(s):// or s3://bucket/key source.
        src: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write a section of an image to a new FITS file (WCS shifted, checksums set).
    Cutout {
        /// A path, file://, http(s):// or s3://bucket/key source.
        src: String,
        /// HDU index, EXTNAME or EXTNAME,EXTVER (default: the first HDU with data).
        #[arg(long)]
        hdu: Option<String>,
        /// numpy order, 0-based, half-open: `1600:1950,2000:2250`, `0,:,:`, `::2,-100:`.
        #[arg(long, value_name = "SPEC")]
        section: Option<String>,
        /// Output file.
        #[arg(short = 'o', long = "output", value_name = "OUT.fits")]
        output: PathBuf,
        /// Replace OUT if it exists.
        #[arg(long)]
        overwrite: bool,
    },
    /// Statistics of the physical values of an image or a section of it.
    Stats {
        /// A path, file://, http(s):// or s3://bucket/key source.
        src: String,
        /// HDU index, EXTNAME or EXTNAME,EXTVER (default: the first HDU with data).
        #[arg(long)]
        hdu: Option<String>,
        /// numpy order, 0-based, half-open: `1600:1950,2000:2250`, `0,:,:`, `::2,-100:`.
        #[arg(long, value_name = "SPEC")]
        section: Option<String>,
        /// One result per plane along the first axis, streamed plane by plane.
        #[arg(long)]
        per_plane: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy a file, or selected HDUs, between any two sources (local, http, s3), streamed.
    Copy {
        /// A path, file://, http(s):// or s3://bucket/key source.
        src: String,
        /// A local path or s3://bucket/key destination.
        dst: String,
        /// HDUs to copy (index, EXTNAME or EXTNAME,EXTVER; repeat for several). Default: all.
        #[arg(long)]
        hdu: Vec<String>,
        /// Replace DST if it exists.
        #[arg(long)]
        overwrite: bool,
    },
    /// Tile-compress the images of a file (as fpack), streamed; other HDUs are copied as they are.
    Compress {
        /// A path, file://, http(s):// or s3://bucket/key source.
        src: String,
        /// A local path or s3://bucket/key destination.
        dst: String,
        #[command(flatten)]
        options: pack::CompressArgs,
        /// HDUs to keep (index, EXTNAME or EXTNAME,EXTVER; repeat for several). Default: all.
        #[arg(long)]
        hdu: Vec<String>,
        /// Replace DST if it exists.
        #[arg(long)]
        overwrite: bool,
    },
    /// Restore the tile-compressed images of a file to plain images (as funpack), streamed.
    Decompress {
        /// A path, file://, http(s):// or s3://bucket/key source.
        src: String,
        /// A local path or s3://bucket/key destination.
        dst: String,
        /// Replace DST if it exists.
        #[arg(long)]
        overwrite: bool,
    },
    /// The main job on a built-in sample, served over loopback: shows what a cutout costs.
    Demo {
        /// Keep the generated sample in this folder instead of a temporary one.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
}

/// The error and its causes, leaving out causes whose text the message already holds
/// (the library's errors name their source in their own message).
fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(commands::run(cli));
    // Every file is written and closed by now: do not wait for idle threads to wind down.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}
