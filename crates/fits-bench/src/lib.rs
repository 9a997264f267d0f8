//! Measuring FITS I/O: a [`Profiler`] that records every request a driver makes, and the HDU [`layout`] printer.

mod layout;
mod profile;

pub use layout::{LayoutRow, layout, render_layout};
pub use profile::{ProfileReport, Profiler, RequestRecord};
