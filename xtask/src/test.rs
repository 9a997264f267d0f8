//! `cargo xtask test`: install what the tests need, then run every test of the workspace.

use crate::util::{Result, cargo, ensure_apt, have};

pub(crate) fn run(args: &[String]) -> Result {
    ensure_apt(&[("fitsverify", "fitsverify"), ("fpack", "libcfitsio-bin"), ("nginx", "nginx-light")])?;
    crate::servers::ensure_garage()?;
    let servers = crate::servers::Servers::start()?;
    for (k, v) in &servers.env {
        // SAFETY: single-threaded here; the test processes inherit the variables.
        unsafe { std::env::set_var(k, v) };
    }
    // Tests that need an external tool fail instead of skipping when run from here.
    // SAFETY-free: single-threaded at this point; children inherit the variable.
    unsafe { std::env::set_var("FITS_REQUIRE_TOOLS", "1") };
    let extra: Vec<&str> = args.iter().map(String::as_str).collect();
    let nextest = have("cargo-nextest");
    if nextest {
        let mut a = vec!["nextest", "run", "--workspace", "--all-targets", "--no-fail-fast"];
        a.extend(&extra);
        cargo(&a)?;
    } else {
        let mut a = vec!["test", "--workspace", "--all-targets", "--no-fail-fast"];
        a.extend(&extra);
        cargo(&a)?;
    }
    cargo(&["test", "--workspace", "--doc"])?;
    drop(servers);
    eprintln!("xtask: all tests passed");
    Ok(())
}
