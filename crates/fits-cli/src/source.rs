//! Opening sources for a command, with the profiler wrapped around the driver when asked.

use anyhow::{Context, Result};
use fits::bench::{ProfileReport, Profiler};
use fits::io::StorageDriver;
use fits::{Fits, HduSelector, Image, IndexDepth};
use std::path::PathBuf;
use std::sync::Arc;

/// What one command run opened, and how it is being measured.
#[derive(Debug)]
pub(crate) struct Session {
    profile: bool,
    profile_json: Option<PathBuf>,
    options: fits::io::OpenOptions,
    profilers: Vec<Arc<Profiler>>,
}

impl Session {
    pub(crate) fn new(
        profile: bool,
        profile_json: Option<PathBuf>,
        anonymous: bool,
        concurrency: Option<usize>,
    ) -> Session {
        let mut options = fits::io::OpenOptions::default().anonymous(anonymous);
        if let Some(n) = concurrency {
            options = options.read_options(fits::io::ReadOptions { concurrency: n.max(1), ..Default::default() });
        }
        Session { profile, profile_json, options, profilers: Vec::new() }
    }

    fn profiling(&self) -> bool {
        self.profile || self.profile_json.is_some()
    }

    /// Opens a source, always profiled; the profile is printed only if the flags ask for it.
    pub(crate) async fn open_profiled(&mut self, src: &str) -> Result<(Fits, Arc<Profiler>)> {
        let driver: Arc<dyn StorageDriver> = fits::io::open(src, &self.options).await?;
        let p = Profiler::new(driver);
        self.profilers.push(p.clone());
        let fits = Fits::from_driver(p.clone()).await?;
        for w in fits.warnings() {
            eprintln!("warning: {}: {w}", fits.location());
        }
        Ok((fits, p))
    }

    /// Opens a source reading its headers only as far as the HDU a command works on
    /// (`--hdu`, or the first HDU with data).
    pub(crate) async fn open_for(&mut self, src: &str, hdu: Option<&str>) -> Result<Fits> {
        let depth = match hdu {
            Some(sel) => IndexDepth::Until(HduSelector::parse(sel)),
            None => IndexDepth::FirstWithData,
        };
        self.open_depth(src, depth).await
    }

    /// Opens a source to read a section of HDU `hdu` next: when `hdu` is an index, the
    /// section's bytes may travel with its header ([`Fits::from_driver_for_section`]).
    pub(crate) async fn open_for_section(
        &mut self,
        src: &str,
        hdu: Option<&str>,
        section: Option<&str>,
    ) -> Result<Fits> {
        let (Some(HduSelector::Index(index)), Some(spec)) = (hdu.map(HduSelector::parse), section) else {
            return self.open_for(src, hdu).await;
        };
        let driver = self.driver(src).await?;
        let fits =
            Fits::from_driver_for_section(driver, fits::SectionHint { hdu: index, section: spec.to_string() }).await?;
        for w in fits.warnings() {
            eprintln!("warning: {}: {w}", fits.location());
        }
        Ok(fits)
    }

    /// The driver for a source, wrapped in the profiler when the flags ask for one.
    async fn driver(&mut self, src: &str) -> Result<Arc<dyn StorageDriver>> {
        let driver: Arc<dyn StorageDriver> = fits::io::open(src, &self.options).await?;
        if self.profiling() {
            let p = Profiler::new(driver);
            self.profilers.push(p.clone());
            return Ok(p);
        }
        Ok(driver)
    }

    /// Opens a source reading every header; its warnings go to stderr.
    pub(crate) async fn open(&mut self, src: &str) -> Result<Fits> {
        self.open_depth(src, IndexDepth::All).await
    }

    async fn open_depth(&mut self, src: &str, depth: IndexDepth) -> Result<Fits> {
        let driver = self.driver(src).await?;
        let fits = Fits::from_driver_until(driver, depth).await?;
        for w in fits.warnings() {
            eprintln!("warning: {}: {w}", fits.location());
        }
        Ok(fits)
    }

    /// The combined report of every profiled source.
    pub(crate) fn report(&self) -> Option<ProfileReport> {
        let mut reports = self.profilers.iter().map(|p| p.report());
        let mut first = reports.next()?;
        for r in reports {
            first.requests += r.requests;
            first.bytes += r.bytes;
            first.wall_s = first.wall_s.max(r.wall_s);
            first.log.extend(r.log);
        }
        Some(first)
    }

    /// Prints and writes the profile, as the flags ask.
    pub(crate) fn finish(&self) -> Result<()> {
        let Some(report) = self.report() else {
            return Ok(());
        };
        if self.profile {
            eprint!("{}", report.render());
        }
        if let Some(path) = &self.profile_json {
            std::fs::write(path, report.to_json()).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

/// The HDU a command works on: the one asked for, or the first with data.
pub(crate) fn select<'a>(fits: &'a Fits, hdu: Option<&str>) -> Result<&'a fits::Hdu> {
    Ok(match hdu {
        Some(sel) => fits.hdu(HduSelector::parse(sel))?,
        None => fits.first_data_hdu(),
    })
}

/// The image a command works on.
pub(crate) fn select_image(fits: &Fits, hdu: Option<&str>) -> Result<Image> {
    Ok(select(fits, hdu)?.image()?)
}
