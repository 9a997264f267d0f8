//! Running commands and installing tools.

use std::path::Path;
use std::process::Command;

pub(crate) type Result<T = ()> = std::result::Result<T, String>;

/// Runs a command in the workspace root; an error if it fails.
pub(crate) fn run(cmd: &mut Command) -> Result {
    let shown = format!("{cmd:?}");
    let status = cmd.current_dir(crate::root()).status().map_err(|e| format!("{shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed ({status})")) }
}

/// Runs cargo with arguments.
pub(crate) fn cargo(args: &[&str]) -> Result {
    run(Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args(args))
}

/// Whether a program is on PATH (or in the sbin folders, where Debian puts daemons).
pub(crate) fn have(program: &str) -> bool {
    let extra = ["/usr/sbin", "/sbin", "/usr/local/sbin"].map(std::path::PathBuf::from);
    let cargo_bin = std::env::var_os("CARGO_HOME").map(|h| std::path::PathBuf::from(h).join("bin"));
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(extra)
        .chain(cargo_bin)
        .any(|p| is_executable(&p.join(program)))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Installs Debian packages for the programs that are missing.
pub(crate) fn ensure_apt(needs: &[(&str, &str)]) -> Result {
    let missing: Vec<&str> = needs.iter().filter(|(prog, _)| !have(prog)).map(|(_, pkg)| *pkg).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {} with apt-get", missing.join(" "));
    let sudo = !is_root() && have("sudo");
    let apt = |args: &[&str]| {
        let mut c = if sudo { Command::new("sudo") } else { Command::new("apt-get") };
        if sudo {
            c.arg("apt-get");
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut c)
    };
    apt(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    apt(&args)?;
    for (prog, pkg) in needs {
        if !have(prog) {
            return Err(format!("{prog} is still missing after installing {pkg}"));
        }
    }
    Ok(())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}
