//! Every file faultline writes goes through here. A file is written whole
//! under a fresh temporary name in its directory — created exclusively, so no
//! existing file is touched — then renamed over the target; a target that is a
//! symlink or not a regular file is refused, never followed or replaced. `-`
//! is standard output.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The target is not something faultline replaces: bad input.
    #[error("will not write {path}: {why}")]
    Refused { path: String, why: &'static str },
    /// What is already in a file to resume does not belong with this run.
    #[error("cannot resume {path}: line {number}: {why}")]
    Resume { path: String, number: usize, why: String },
    /// The write itself failed (a full disk, a closed pipe): not bad input.
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// An output being written; nothing appears at its path until [`Output::finish`].
pub struct Output {
    sink: Sink,
    path: PathBuf,
}

enum Sink {
    Stdout(io::Stdout),
    File(BufWriter<tempfile::NamedTempFile>),
}

impl Output {
    /// Starts writing `path` (`-`: standard output).
    pub fn create(path: &Path) -> Result<Output, OutputError> {
        if path == Path::new("-") {
            return Ok(Output { sink: Sink::Stdout(io::stdout()), path: path.into() });
        }
        let shown = path.display().to_string();
        let refuse = |why| OutputError::Refused { path: shown.clone(), why };
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => return Err(refuse("it is a symbolic link")),
            Ok(m) if !m.is_file() => {
                return Err(refuse("it is not a regular file (use - for standard output)"))
            }
            _ => {}
        }
        let name = path.file_name().ok_or_else(|| refuse("it names no file"))?.to_string_lossy();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(dir)
            .map_err(|source| OutputError::Write { path: shown, source })?;
        Ok(Output { sink: Sink::File(BufWriter::new(tmp)), path: path.into() })
    }

    /// Makes the output appear at its path, whole: flushed, synced, renamed.
    pub fn finish(self) -> Result<(), OutputError> {
        let failed = |source| OutputError::Write { path: self.path.display().to_string(), source };
        match self.sink {
            Sink::Stdout(mut out) => out.flush().map_err(failed),
            Sink::File(buffered) => {
                let tmp = buffered.into_inner().map_err(|e| failed(e.into_error()))?;
                tmp.as_file().sync_all().map_err(failed)?;
                tmp.persist(&self.path).map_err(|e| failed(e.error))?;
                Ok(())
            }
        }
    }

    /// The error for a failed write to this output.
    pub fn failed(&self, source: io::Error) -> OutputError {
        OutputError::Write { path: self.path.display().to_string(), source }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.sink {
            Sink::Stdout(out) => out.write(buf),
            Sink::File(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout(out) => out.flush(),
            Sink::File(f) => f.flush(),
        }
    }
}

/// A file of JSON lines that is whole at every moment, for outputs a run
/// appends to as it goes (`run --json`, a sweep's runs.jsonl): it replaces its
/// target when created (the same way [`Output`] does, but at once) and then
/// grows line by line, so a run killed at any point leaves its complete lines
/// behind, and [`Journal::resume`] carries on from them.
pub struct Journal {
    sink: JournalSink,
    path: PathBuf,
}

enum JournalSink {
    Stdout(io::Stdout),
    File(BufWriter<std::fs::File>),
}

impl Journal {
    /// Starts `path` afresh (`-`: standard output).
    pub fn create(path: &Path) -> Result<Journal, OutputError> {
        if path == Path::new("-") {
            return Ok(Journal { sink: JournalSink::Stdout(io::stdout()), path: path.into() });
        }
        let out = Output::create(path)?;
        let Sink::File(buffered) = out.sink else { unreachable!("a path is a file") };
        let failed = |source| OutputError::Write { path: path.display().to_string(), source };
        let tmp = buffered.into_inner().map_err(|e| failed(e.into_error()))?;
        let file = tmp.persist(path).map_err(|e| failed(e.error))?;
        Ok(Journal { sink: JournalSink::File(BufWriter::new(file)), path: path.into() })
    }

    /// Opens `path` to carry on appending to it: hands each complete line to
    /// `each` (streamed, never all in memory), drops a last line cut off
    /// mid-write, and positions at the end. A path that is not a regular file
    /// (a symlink included) is refused, and so is a line `each` rejects.
    pub fn resume(
        path: &Path,
        mut each: impl FnMut(&str) -> Result<(), String>,
    ) -> Result<Journal, OutputError> {
        use std::io::{BufRead, Read, Seek};
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        let shown = path.display().to_string();
        let refuse = |why| OutputError::Refused { path: shown.clone(), why };
        if path == Path::new("-") {
            return Err(refuse("standard output cannot be resumed"));
        }
        let failed = |source| OutputError::Write { path: shown.clone(), source };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => refuse("it is a symbolic link"),
                _ if e.kind() == io::ErrorKind::NotFound => refuse("there is nothing to resume"),
                _ => failed(e),
            })?;
        let meta = file.metadata().map_err(failed)?;
        if !meta.is_file() {
            return Err(refuse("it is not a regular file"));
        }
        // The complete lines end at the last newline: found from the end.
        let (mut end, mut whole, mut chunk) = (meta.len(), 0, vec![0u8; 1 << 16]);
        while end > 0 {
            let start = end.saturating_sub(chunk.len() as u64);
            let piece = &mut chunk[..(end - start) as usize];
            file.read_exact_at(piece, start).map_err(failed)?;
            if let Some(i) = piece.iter().rposition(|b| *b == b'\n') {
                whole = start + i as u64 + 1;
                break;
            }
            end = start;
        }
        let mut lines = io::BufReader::new((&file).take(whole));
        let mut line = String::new();
        for number in 1.. {
            line.clear();
            if lines.read_line(&mut line).map_err(failed)? == 0 {
                break;
            }
            each(line.trim_end()).map_err(|why| OutputError::Resume { path: shown.clone(), number, why })?;
        }
        file.set_len(whole).map_err(failed)?;
        file.seek(io::SeekFrom::End(0)).map_err(failed)?;
        Ok(Journal { sink: JournalSink::File(BufWriter::new(file)), path: path.into() })
    }

    /// Appends one line.
    pub fn line(&mut self, line: &str) -> Result<(), OutputError> {
        let written = match &mut self.sink {
            JournalSink::Stdout(out) => writeln!(out, "{line}"),
            JournalSink::File(f) => writeln!(f, "{line}"),
        };
        written.map_err(|e| self.failed(e))
    }

    /// Flushes and syncs what was written.
    pub fn finish(self) -> Result<(), OutputError> {
        let failed = |source| OutputError::Write { path: self.path.display().to_string(), source };
        match self.sink {
            JournalSink::Stdout(mut out) => out.flush().map_err(failed),
            JournalSink::File(f) => {
                let file = f.into_inner().map_err(|e| failed(e.into_error()))?;
                file.sync_all().map_err(failed)
            }
        }
    }

    fn failed(&self, source: io::Error) -> OutputError {
        OutputError::Write { path: self.path.display().to_string(), source }
    }
}

/// Writes `bytes` to `path` whole, through [`Output`].
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let mut out = Output::create(path)?;
    out.write_all(bytes).map_err(|e| out.failed(e))?;
    out.finish()
}

/// Removes the report files in `dir` (and only those: the names a report
/// writes, and only regular files), so none outlives the runs it described.
pub fn remove_report(dir: &Path) -> Result<(), OutputError> {
    let names = ["report.html", "report.md"].into_iter().chain(faultline_reports::charts::FILES);
    for path in names.map(|n| dir.join(n)) {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => std::fs::remove_file(&path)
                .map_err(|source| OutputError::Write { path: path.display().to_string(), source })?,
            _ => {}
        }
    }
    Ok(())
}

/// Writes a report's files into `dir` (created if missing), each whole.
pub fn write_report(report: &faultline_reports::Report, dir: &Path) -> Result<(), OutputError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| OutputError::Write { path: dir.display().to_string(), source })?;
    for (name, svg) in &report.charts {
        write_whole(&dir.join(name), svg.as_bytes())?;
    }
    write_whole(&dir.join("report.md"), report.markdown.as_bytes())?;
    write_whole(&dir.join("report.html"), report.html.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_touches_nothing_but_its_target_and_refuses_links_and_devices() {
        let dir = tempfile::tempdir().unwrap();
        let (target, keep) = (dir.path().join("out.jsonl"), dir.path().join("out.partial"));
        std::fs::write(&keep, "someone else's").unwrap();
        write_whole(&target, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(
            std::fs::read_to_string(&keep).unwrap(),
            "someone else's",
            "an unrelated .partial survives"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");

        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&keep, &link).unwrap();
        let err = write_whole(&link, b"x").unwrap_err();
        assert!(
            matches!(err, OutputError::Refused { .. }) && err.to_string().contains("symbolic link"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&keep).unwrap(), "someone else's", "not written through the link");
        let err = write_whole(Path::new("/dev/null"), b"x").unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let err = write_whole(dir.path(), b"x").unwrap_err();
        assert!(matches!(err, OutputError::Refused { .. }), "a directory: {err}");
    }

    #[test]
    fn a_journal_resumes_from_its_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        std::fs::write(&path, "old\n").unwrap();
        let mut j = Journal::create(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "", "replaced at once");
        j.line("{\"a\":1}").unwrap();
        j.finish().unwrap();
        // A write cut off mid-line, as a kill leaves it.
        std::fs::write(&path, "{\"a\":1}\n{\"a\":").unwrap();
        let mut seen = Vec::new();
        let mut j = Journal::resume(&path, |l| {
            seen.push(l.to_string());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["{\"a\":1}"], "the torn line is dropped");
        j.line("{\"a\":2}").unwrap();
        j.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"a\":2}\n");
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let ok = |_: &str| Ok(());
        assert!(matches!(Journal::resume(&link, ok), Err(OutputError::Refused { .. })));
        assert!(matches!(Journal::resume(&dir.path().join("none"), ok), Err(OutputError::Refused { .. })));
        let err = Journal::resume(&path, |_| Err("another scenario".into())).err().unwrap();
        assert_eq!(err.to_string(), format!("cannot resume {}: line 1: another scenario", path.display()));
        assert!(matches!(Journal::create(&link), Err(OutputError::Refused { .. })));
    }

    #[test]
    fn an_unfinished_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("run.jsonl");
        let mut out = Output::create(&target).unwrap();
        out.write_all(b"half").unwrap();
        drop(out);
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "neither the target nor a temporary"
        );
    }
}
