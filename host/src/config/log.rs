//! The `[log]` table: the format of the ordinary log (`format = "human"`,
//! the default, or `"json"`: one JSON object per line) and the tunnel log
//! (`tunnel_log = "stdout"` or a file path, relative to the config's
//! directory; absent: none), one JSON line per tunnel event as AWS's tunnel
//! logs give them. This module checks what is written; the file is opened
//! (for appending) by the driver at start, which fails there if it cannot.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, Source};
use super::model::{LogConfig, LogFormat, TunnelLog};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<Spanned<String>>,
    pub tunnel_log: Option<Spanned<String>>,
}

pub(crate) fn log(
    src: &Source,
    raw: Option<&Spanned<RawLog>>,
    base_dir: &Path,
) -> Result<LogConfig, ConfigError> {
    let Some(raw) = raw.map(Spanned::get_ref) else {
        return Ok(LogConfig::default());
    };
    let format = match raw.format.as_ref().map(|f| (f, f.get_ref().as_str())) {
        None | Some((_, "human")) => LogFormat::Human,
        Some((_, "json")) => LogFormat::Json,
        Some((f, other)) => {
            return Err(src.err(
                f.span(),
                format!("[log] format = {other:?} is not a log format"),
                "write \"human\" (the default) or \"json\" (one JSON object per line)",
            ))
        }
    };
    let tunnel_log =
        match &raw.tunnel_log {
            None => None,
            Some(v) if v.get_ref().trim().is_empty() => return Err(src.err(
                v.span(),
                "[log] tunnel_log is empty",
                "write \"stdout\" or the path of a file, or leave the key out for no tunnel log",
            )),
            Some(v) if v.get_ref() == "stdout" => Some(TunnelLog::Stdout),
            Some(v) => {
                let path = PathBuf::from(v.get_ref());
                Some(TunnelLog::File(if path.is_absolute() {
                    path
                } else {
                    base_dir.join(path)
                }))
            }
        };
    Ok(LogConfig { format, tunnel_log })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_err, Fixture};
    use super::*;

    #[test]
    fn log_format_and_tunnel_log() {
        let fx = Fixture::new();
        let cfg = fx.parse(&fx.base()).unwrap();
        assert_eq!(cfg.log, LogConfig::default(), "human, no tunnel log");
        let text = format!(
            "{}\n[log]\nformat = \"json\"\ntunnel_log = \"tunnels.log\"\n",
            fx.base()
        );
        let cfg = fx.parse(&text).unwrap();
        assert_eq!(cfg.log.format, LogFormat::Json);
        assert_eq!(
            cfg.log.tunnel_log,
            Some(TunnelLog::File(fx.dir.join("tunnels.log"))),
            "relative to the config's directory"
        );
        let text = format!("{}\n[log]\ntunnel_log = \"stdout\"\n", fx.base());
        assert_eq!(
            fx.parse(&text).unwrap().log.tunnel_log,
            Some(TunnelLog::Stdout)
        );
        let text = format!("{}\n[log]\nformat = \"xml\"\n", fx.base());
        assert_err(
            &fx,
            &text,
            "\"xml\"",
            0,
            "[log] format = \"xml\" is not a log format",
            "write \"human\" (the default) or \"json\" (one JSON object per line)",
        );
    }
}
