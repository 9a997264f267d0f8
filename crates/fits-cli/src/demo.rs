//! `fits demo`: the main job on a built-in sample.

use crate::source::Session;
use anyhow::Result;
use std::path::PathBuf;

pub(crate) async fn run(_session: &mut Session, _keep: Option<PathBuf>) -> Result<()> {
    anyhow::bail!("demo: not written yet")
}
