//! Stock peers in the lab, the software a customer runs instead of sitelink:
//! keys from `wg genkey`, WireGuard interfaces brought up by `wg-quick` from
//! exported files (it falls back to wireguard-go when the kernel has no
//! WireGuard module, as in CI), and the BIRD 2 and GoBGP daemons run in a
//! namespace from exported configs, with their command-line clients. The
//! daemons run in the foreground as [`Spawned`] children, so they die with
//! the test; anything left in a namespace is killed when it is deleted.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::gateway::Gw;
use crate::netns::Netns;
use crate::process::{self, Spawned, SHORT};
use crate::topology::SiteLab;
use crate::unix_socket;
use crate::{Error, Result};

/// Writes a new private key to `path` (mode 600) with `wg genkey`, and
/// returns its public key from `wg pubkey`.
pub fn wg_genkey(path: &Path) -> Result<String> {
    let private = process::run_ok(Command::new("wg").arg("genkey"), SHORT)?;
    let private = private.trim();
    fs::write(path, format!("{private}\n"))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    let out = process::run_with_input(
        Command::new("wg").arg("pubkey"),
        format!("{private}\n").as_bytes(),
        SHORT,
    )?;
    let public = out.stdout.trim().to_string();
    if !out.status.success() || public.is_empty() {
        return Err(Error::msg(format!(
            "`wg pubkey` failed: {}",
            out.stderr.trim()
        )));
    }
    Ok(public)
}

/// `wg-quick up CONF` inside `ns`; returns the interface name (the file's
/// stem).
pub fn wg_quick_up(ns: &Netns, conf: &Path) -> Result<String> {
    let iface = conf
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| Error::msg(format!("{}: no interface name", conf.display())))?
        .to_string();
    // The export writes files that hold a private key readable by root only.
    let mode = fs::metadata(conf)?.permissions().mode() & 0o777;
    if mode != 0o600 {
        return Err(Error::msg(format!(
            "{} holds a private key but has mode {mode:o}, not 600",
            conf.display()
        )));
    }
    wg_quick(ns, "up", conf)?;
    Ok(iface)
}

/// `wg-quick down CONF` inside `ns` (its PreDown and PostDown run).
pub fn wg_quick_down(ns: &Netns, conf: &Path) -> Result<()> {
    wg_quick(ns, "down", conf)
}

/// `wg-quick VERB CONF` inside `ns`. wireguard-go refuses to run on a
/// kernel recent enough to have WireGuard built in unless told that
/// userspace is wanted.
fn wg_quick(ns: &Netns, verb: &str, conf: &Path) -> Result<()> {
    let mut cmd = ns.command("wg-quick", &[verb.as_ref(), conf.as_os_str()]);
    cmd.env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1");
    let out = process::run(&mut cmd, Duration::from_secs(20))?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "wg-quick {verb} {} failed ({}): {}",
            conf.display(),
            out.status,
            out.stderr.trim()
        )));
    }
    Ok(())
}

/// `wg show IFACE WHAT` inside `ns` (e.g. `latest-handshakes`, `transfer`).
pub fn wg_show(ns: &Netns, iface: &str, what: &str) -> Result<String> {
    ns.exec_ok("wg", &["show", iface, what])
}

/// The unix time of the latest handshake on `iface` (0: none yet).
pub fn latest_handshake(ns: &Netns, iface: &str) -> Result<u64> {
    let text = wg_show(ns, iface, "latest-handshakes")?;
    Ok(text
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0))
}

/// A BIRD 2 daemon in a namespace.
pub struct Bird {
    proc: Spawned,
    ctl: PathBuf,
}

impl Bird {
    /// Checks `conf` (`bird -p`) and runs `bird -f -c CONF` in `ns`, with
    /// its control socket and log in `dir`.
    pub fn start(ns: &Netns, conf: &Path, dir: &Path) -> Result<Bird> {
        Bird::start_with(ns, conf, dir, &[])
    }

    /// [`Bird::start`] with more arguments (`-R`: graceful restart
    /// recovery after a `birdc graceful restart`).
    pub fn start_with(ns: &Netns, conf: &Path, dir: &Path, extra: &[&str]) -> Result<Bird> {
        let check = process::run(Command::new("bird").arg("-p").arg("-c").arg(conf), SHORT)?;
        if !check.status.success() {
            return Err(Error::msg(format!(
                "bird -p refused {}: {}",
                conf.display(),
                check.stderr.trim()
            )));
        }
        let ctl = dir.join("bird.ctl");
        let mut args = vec![
            "-f".as_ref(),
            "-c".as_ref(),
            conf.as_os_str(),
            "-s".as_ref(),
            ctl.as_os_str(),
        ];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        let proc = Spawned::start("bird", ns.command("bird", &args), &dir.join("bird.log"))?;
        let bird = Bird { proc, ctl };
        process::wait_until(
            "bird's control socket",
            Duration::from_secs(10),
            Duration::from_millis(50),
            || bird.ctl.exists(),
        )?;
        Ok(bird)
    }

    /// `birdc -s CTL ARGS` (the socket is a file: no namespace needed).
    pub fn birdc(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new("birdc");
        cmd.arg("-s").arg(&self.ctl).args(args);
        process::run_ok(&mut cmd, SHORT)
    }

    /// Whether BGP protocol `name` is Established.
    pub fn established(&self, name: &str) -> bool {
        self.query(&format!("show protocols {name}"))
            .is_ok_and(|t| t.contains("Established"))
    }

    /// `command` (e.g. `show route count`) on BIRD's control socket
    /// itself, as birdc sends it, and its answer as birdc prints it
    /// (reply codes stripped). No process is started: for loops that
    /// poll a daemon under measurement several times a second on a small
    /// machine, where a `birdc` per poll, forked from a test process
    /// holding a large table, took a visible share of the cores.
    pub fn query(&self, command: &str) -> Result<String> {
        use std::io::{BufRead, BufReader};
        let fail = |e: std::io::Error| {
            Error::msg(format!(
                "bird control socket {} (`{command}`): {e}",
                self.ctl.display()
            ))
        };
        let stream = unix_socket::connect(&self.ctl, SHORT).map_err(fail)?;
        // One reader for the whole exchange: it reads ahead.
        let mut io = BufReader::new(unix_socket::Deadline::new(&stream, SHORT));
        let mut line = Vec::new();
        let mut read_reply = |io: &mut BufReader<unix_socket::Deadline>| -> Result<String> {
            let mut reply = BirdReply::default();
            while !reply.done {
                line.clear();
                if io.read_until(b'\n', &mut line).map_err(fail)? == 0 {
                    return Err(Error::msg(format!(
                        "bird control socket {} closed in the middle of a reply to `{command}`",
                        self.ctl.display()
                    )));
                }
                // birdc prints BIRD's bytes as they come.
                reply.push(&String::from_utf8_lossy(&line))?;
            }
            Ok(reply.text)
        };
        // The greeting ("0001 BIRD 2.0.12 ready.") is a reply of its own.
        read_reply(&mut io)?;
        io.get_mut()
            .write_all(format!("{command}\n").as_bytes())
            .map_err(fail)?;
        read_reply(&mut io)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// `birdc graceful restart`: BIRD shuts down for a graceful restart
    /// (BGP sessions closed without a NOTIFICATION, kernel routes left in
    /// place) and exits; waits for the exit.
    pub fn graceful_restart(&mut self, timeout: Duration) -> Result<()> {
        self.birdc(&["graceful", "restart"])?;
        self.proc.wait_exit(timeout)?;
        Ok(())
    }
}

/// One reply of BIRD's control protocol, line by line: each line is a
/// four-digit code and `-` (more follows) or ` ` (the reply's last line),
/// then text; a line that starts with a space continues the previous
/// code's text. Codes from 8000 are errors.
#[derive(Default)]
struct BirdReply {
    text: String,
    done: bool,
}

impl BirdReply {
    fn push(&mut self, line: &str) -> Result<()> {
        let line = line.trim_end_matches(['\r', '\n']);
        let (code, rest) = match line.as_bytes() {
            [b' ', ..] => (None, &line[1..]),
            [a, b, c, d, sep @ (b'-' | b' '), ..]
                if [a, b, c, d].iter().all(|x| x.is_ascii_digit()) =>
            {
                self.done = *sep == b' ';
                (Some(&line[..4]), &line[5..])
            }
            _ => {
                return Err(Error::msg(format!(
                    "bird control socket: a line that is not of its protocol: {line:?}"
                )))
            }
        };
        if code.is_some_and(|c| c >= "8000") {
            return Err(Error::msg(format!("bird answered an error: {line}")));
        }
        // birdc prints no text for code 0 ("0000 ", the end of most
        // replies).
        if code != Some("0000") {
            self.text.push_str(rest);
            self.text.push('\n');
        }
        Ok(())
    }
}

/// A GoBGP daemon in a namespace, its gRPC API on 127.0.0.1:`port` there.
pub struct Gobgp {
    proc: Spawned,
    port: u16,
}

impl Gobgp {
    /// Checks `conf` (`gobgpd -d`) and runs gobgpd in `ns`, logging to
    /// `dir/gobgpd.log`.
    pub fn start(ns: &Netns, conf: &Path, dir: &Path, port: u16) -> Result<Gobgp> {
        let check = process::run(
            Command::new("gobgpd")
                .arg("-f")
                .arg(conf)
                .args(["-t", "toml", "-d"]),
            SHORT,
        )?;
        if !check.status.success() {
            return Err(Error::msg(format!(
                "gobgpd -d refused {}: {}{}",
                conf.display(),
                check.stdout.trim(),
                check.stderr.trim()
            )));
        }
        let api = format!("--api-hosts=127.0.0.1:{port}");
        let args = [
            "-f".as_ref(),
            conf.as_os_str(),
            "-t".as_ref(),
            "toml".as_ref(),
            "-p".as_ref(),
            "--pprof-disable".as_ref(),
            api.as_ref(),
        ];
        let proc = Spawned::start(
            "gobgpd",
            ns.command("gobgpd", &args),
            &dir.join("gobgpd.log"),
        )?;
        let me = Gobgp { proc, port };
        process::wait_until(
            "gobgpd's API",
            Duration::from_secs(10),
            Duration::from_millis(100),
            || me.cli(ns, &["global"]).is_ok(),
        )?;
        Ok(me)
    }

    /// `gobgp -u 127.0.0.1 -p PORT ARGS` inside `ns`.
    pub fn cli(&self, ns: &Netns, args: &[&str]) -> Result<String> {
        let port = self.port.to_string();
        let mut all = vec!["-u", "127.0.0.1", "-p", port.as_str()];
        all.extend_from_slice(args);
        ns.exec_ok("gobgp", &all)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.proc.log()
    }
}

/// `sitelink export --connection office --format FORMAT` of the lab's VGW
/// into `dir` (with the CGW's key, so the files are complete), plus `extra`
/// arguments; the files written, sorted.
pub fn export_office(
    lab: &SiteLab,
    format: &str,
    dir: &Path,
    extra: &[&str],
) -> Result<Vec<PathBuf>> {
    let config = lab.config_path(Gw::Vgw)?;
    let key = lab.lab().dir().join("cgw.key");
    let mut cmd = Command::new(lab.bin()?);
    cmd.args(["export", "--connection", "office", "--format", format, "-c"])
        .arg(&config)
        .arg("--out")
        .arg(dir)
        .arg("--private-key")
        .arg(&key)
        .args(extra);
    process::run_ok(&mut cmd, SHORT)?;
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::BirdReply;

    fn read(lines: &[&str]) -> Result<(String, bool), String> {
        let mut reply = BirdReply::default();
        for l in lines {
            reply.push(l).map_err(|e| e.to_string())?;
            if reply.done {
                break;
            }
        }
        Ok((reply.text, reply.done))
    }

    #[test]
    fn a_reply_reads_as_birdc_prints_it() {
        // `show protocols all feed`, as BIRD 2.0.12 sends it (shortened).
        let (text, done) = read(&[
            "2002-Name       Proto      Table      State  Since         Info\n",
            "1002-feed       BGP        ---        up     12:00:00.000  Established   \n",
            "1006-  BGP state:          Established\n",
            "       Routes:         1199936 imported, 0 exported\n",
            "0000 \n",
            "9001 never read\n",
        ])
        .expect("a well-formed reply");
        assert!(done);
        assert_eq!(
            text,
            "Name       Proto      Table      State  Since         Info\n\
             feed       BGP        ---        up     12:00:00.000  Established   \n  \
             BGP state:          Established\n      \
             Routes:         1199936 imported, 0 exported\n"
        );
    }

    #[test]
    fn a_reply_ends_at_its_first_line_with_a_space_after_the_code() {
        let (text, done) = read(&["0001 BIRD 2.0.12 ready.\n"]).expect("the greeting");
        assert!(done);
        assert_eq!(text, "BIRD 2.0.12 ready.\n");
        let (_, done) = read(&["1007-Total: 3\n"]).expect("a partial reply");
        assert!(!done);
    }

    #[test]
    fn errors_and_foreign_lines_are_refused() {
        let err =
            read(&["9001 syntax error, unexpected CF_SYM_UNDEFINED\n"]).expect_err("an error code");
        assert!(
            err.contains("bird answered an error: 9001 syntax error"),
            "{err}"
        );
        let err = read(&["hello\n"]).expect_err("not the protocol");
        assert!(err.contains("not of its protocol"), "{err}");
    }
}
