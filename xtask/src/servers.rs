//! The test servers `cargo xtask test` starts on loopback: nginx (HTTP ranges) and Garage (S3).
//! Each is installed when missing; their addresses reach the tests through environment variables.

use crate::util::{Result, have};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The S3 key the tests use (imported into Garage; only ever valid on this loopback instance).
const KEY_ID: &str = "GK0f175e0c5ab2b1d6e9c3a47d";
const KEY_SECRET: &str = "5b2f0a8c7e1d4b3a9f6e2c8d0a7b5e3f1c9d8e6a4b2c0f7e5d3b1a9c8e6f4d2b";
pub(crate) const BUCKET: &str = "fits-test";

/// Running servers; stopped when dropped.
#[derive(Debug, Default)]
pub(crate) struct Servers {
    children: Vec<Child>,
    /// Environment for the tests.
    pub(crate) env: Vec<(String, String)>,
    dir: Option<PathBuf>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn wait_for_port(port: u16, what: &str, child: &mut Child, log: &Path) -> Result {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("{what} exited ({status}) before listening:\n{text}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{what} did not listen on port {port} within 30 s"))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

impl Servers {
    /// Starts nginx and Garage in a fresh temporary folder.
    pub(crate) fn start() -> Result<Servers> {
        let dir = std::env::temp_dir().join(format!("fits-test-servers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut s = Servers { children: Vec::new(), env: Vec::new(), dir: Some(dir.clone()) };
        s.nginx(&dir.join("nginx"))?;
        s.garage(&dir.join("garage"))?;
        Ok(s)
    }

    fn nginx(&mut self, dir: &Path) -> Result {
        let www = dir.join("www");
        std::fs::create_dir_all(&www).map_err(|e| e.to_string())?;
        for t in ["client", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.join(t)).map_err(|e| e.to_string())?;
        }
        let port = free_port()?;
        let user = if is_root() { "user root;\n" } else { "" };
        let d = dir.display();
        let conf = format!(
            "{user}daemon off;\nworker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 512; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/client;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  types {{ application/fits fits; }}\n  default_type application/octet-stream;\n  \
             keepalive_requests 100000;\n  server {{\n    listen 127.0.0.1:{port};\n    root {www};\n    location / {{ }}\n  }}\n}}\n",
            www = www.display()
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let log = dir.join("stderr.log");
        let nginx =
            ["/usr/sbin/nginx", "nginx"].into_iter().find(|p| Path::new(p).exists() || have(p)).unwrap_or("nginx");
        let mut child = Command::new(nginx)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("starting nginx: {e}"))?;
        wait_for_port(port, "nginx", &mut child, &log)?;
        self.children.push(child);
        self.env.push(("FITS_TEST_NGINX_URL".into(), format!("http://127.0.0.1:{port}")));
        self.env.push(("FITS_TEST_NGINX_ROOT".into(), www.display().to_string()));
        eprintln!("xtask: nginx serving {} at http://127.0.0.1:{port}", www.display());
        Ok(())
    }

    fn garage(&mut self, dir: &Path) -> Result {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let (s3, rpc, admin) = (free_port()?, free_port()?, free_port()?);
        let d = dir.display();
        let secret: String = (0..32).map(|i| format!("{:02x}", (i * 37 + 11) % 256)).collect();
        let conf = format!(
            "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\nreplication_factor = 1\ncompression_level = \"none\"\n\
             rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\n\
             [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{s3}\"\nroot_domain = \".s3.garage.localhost\"\n\n\
             [admin]\napi_bind_addr = \"127.0.0.1:{admin}\"\nadmin_token = \"{secret}\"\n"
        );
        let conf_path = dir.join("garage.toml");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&conf_path, std::fs::Permissions::from_mode(0o600));
        }
        let log = dir.join("server.log");
        let mut child = Command::new("garage")
            .arg("-c")
            .arg(&conf_path)
            .arg("server")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("starting garage: {e}"))?;
        wait_for_port(s3, "garage", &mut child, &log)?;
        self.children.push(child);
        let garage = |args: &[&str]| -> Result<String> {
            let out = Command::new("garage")
                .arg("-c")
                .arg(&conf_path)
                .args(args)
                .output()
                .map_err(|e| format!("garage {args:?}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "garage {args:?} failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(String::from_utf8_lossy(&out.stdout).to_string())
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let node = loop {
            let status = garage(&["status"]).unwrap_or_default();
            if let Some(id) = status.lines().find(|l| l.contains("NO ROLE")).and_then(|l| l.split_whitespace().next()) {
                break id.to_string();
            }
            if Instant::now() > deadline {
                return Err(format!("garage status never showed the node:\n{status}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        garage(&["layout", "assign", "-z", "dc1", "-c", "1G", &node])?;
        garage(&["layout", "apply", "--version", "1"])?;
        garage(&["key", "import", "--yes", "-n", "fits-test", KEY_ID, KEY_SECRET])?;
        garage(&["bucket", "create", BUCKET])?;
        garage(&["bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", "fits-test"])?;
        for (k, v) in [
            ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{s3}")),
            ("AWS_ACCESS_KEY_ID", KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", KEY_SECRET.to_string()),
            ("AWS_REGION", "garage".to_string()),
            ("FITS_TEST_S3_BUCKET", BUCKET.to_string()),
            ("FITS_TEST_GARAGE_CONFIG", conf_path.display().to_string()),
        ] {
            self.env.push((k.to_string(), v));
        }
        eprintln!("xtask: garage S3 at http://127.0.0.1:{s3}, bucket {BUCKET}");
        Ok(())
    }
}

/// Installs Garage with cargo when it is missing (single node, sqlite metadata).
pub(crate) fn ensure_garage() -> Result {
    if have("garage") {
        return Ok(());
    }
    eprintln!("xtask: installing garage (cargo install garage --locked; this takes several minutes)");
    crate::util::cargo(&[
        "install",
        "garage",
        "--locked",
        "--no-default-features",
        "--features",
        "bundled-libs,sqlite",
    ])?;
    if have("garage") {
        Ok(())
    } else {
        Err("garage is still not on PATH after cargo install (is ~/.cargo/bin on PATH?)".into())
    }
}
