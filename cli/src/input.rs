//! The files a command reads: paths, directories walked for manifests, or `-` for stdin, each
//! read whole with a size cap and checked to be text.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Largest input read, per file. Manifests are kilobytes; anything near this is a mistake.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// File name endings read when a directory is walked.
const MANIFEST_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Where one input comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputPath {
    Stdin,
    File(PathBuf),
}

impl InputPath {
    /// The name diagnostics use: the path as given, or `<stdin>`.
    pub fn display_name(&self) -> String {
        match self {
            InputPath::Stdin => "<stdin>".to_string(),
            InputPath::File(p) => p.display().to_string(),
        }
    }
}

/// A file's text, ready to parse.
#[derive(Debug)]
pub struct SourceText {
    /// The name diagnostics use.
    pub name: String,
    pub text: String,
}

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{name}: cannot read: {source}")]
    Io { name: String, source: io::Error },
    #[error("{name}: larger than {} MiB; fmesh reads at most that much per file", MAX_FILE_BYTES / (1024 * 1024))]
    TooLarge { name: String },
    #[error("{name}: binary data (a NUL byte at offset {offset}); expected YAML or JSON text")]
    Binary { name: String, offset: usize },
    #[error("{name}: not UTF-8 text (invalid byte at offset {offset}); expected YAML or JSON")]
    NotUtf8 { name: String, offset: usize },
    #[error("{name}: no *.yaml, *.yml or *.json files in this directory")]
    NoManifests { name: String },
}

/// Expands the arguments into the files to read: directories are walked (recursively, sorted,
/// hidden entries skipped) for manifest files; `-` is stdin. Unreadable paths become errors.
pub fn expand(args: &[PathBuf]) -> (Vec<InputPath>, Vec<InputError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for arg in args {
        if arg.as_os_str() == "-" {
            files.push(InputPath::Stdin);
            continue;
        }
        match fs::metadata(arg) {
            Ok(meta) if meta.is_dir() => {
                let before = files.len();
                walk(arg, &mut files, &mut errors);
                if files.len() == before {
                    errors.push(InputError::NoManifests {
                        name: arg.display().to_string(),
                    });
                }
            }
            Ok(_) => files.push(InputPath::File(arg.clone())),
            Err(source) => errors.push(InputError::Io {
                name: arg.display().to_string(),
                source,
            }),
        }
    }
    (files, errors)
}

fn walk(dir: &Path, files: &mut Vec<InputPath>, errors: &mut Vec<InputError>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(source) => {
            return errors.push(InputError::Io {
                name: dir.display().to_string(),
                source,
            });
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        // symlink_metadata: a link to a directory is not followed, so a loop cannot recurse.
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if hidden {
            continue;
        }
        if meta.is_dir() {
            walk(&path, files, errors);
        } else if is_manifest(&path) && path.is_file() {
            files.push(InputPath::File(path));
        }
    }
}

fn is_manifest(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Reads one input whole, refusing more than [`MAX_FILE_BYTES`] and anything that is not text.
pub fn read(input: &InputPath) -> Result<SourceText, InputError> {
    let name = input.display_name();
    let io_error = |source| InputError::Io {
        name: name.clone(),
        source,
    };
    let bytes = match input {
        InputPath::Stdin => read_capped(io::stdin().lock()).map_err(io_error)?,
        InputPath::File(path) => {
            read_capped(fs::File::open(path).map_err(io_error)?).map_err(io_error)?
        }
    };
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(InputError::TooLarge { name });
    }
    text(name, bytes)
}

fn read_capped(reader: impl Read) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn text(name: String, bytes: Vec<u8>) -> Result<SourceText, InputError> {
    if let Some(offset) = bytes.iter().position(|b| *b == 0) {
        return Err(InputError::Binary { name, offset });
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceText { name, text }),
        Err(e) => Err(InputError::NotUtf8 {
            name,
            offset: e.utf8_error().valid_up_to(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_walked_in_sorted_order_for_manifests_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["b.yaml", "a.yml", "c.json", "notes.txt", ".hidden.yaml"] {
            fs::write(dir.path().join(name), "a: 1\n").expect("write");
        }
        fs::create_dir(dir.path().join("sub")).expect("mkdir");
        fs::write(dir.path().join("sub/d.YAML"), "a: 1\n").expect("write");
        let (files, errors) = expand(&[dir.path().to_path_buf()]);
        assert!(errors.is_empty());
        let names: Vec<String> = files
            .iter()
            .map(|f| match f {
                InputPath::File(p) => p
                    .strip_prefix(dir.path())
                    .expect("under dir")
                    .display()
                    .to_string(),
                InputPath::Stdin => "-".to_string(),
            })
            .collect();
        assert_eq!(names, ["a.yml", "b.yaml", "c.json", "sub/d.YAML"]);
    }

    #[test]
    fn missing_paths_and_empty_directories_are_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (files, errors) = expand(&[dir.path().join("absent.yaml"), dir.path().to_path_buf()]);
        assert!(files.is_empty());
        assert!(matches!(
            errors[..],
            [InputError::Io { .. }, InputError::NoManifests { .. }]
        ));
    }

    #[test]
    fn binary_and_non_utf8_bytes_are_refused() {
        assert!(matches!(
            text("x".into(), b"a: \0".to_vec()),
            Err(InputError::Binary { offset: 3, .. })
        ));
        assert!(matches!(
            text("x".into(), b"a: \xff".to_vec()),
            Err(InputError::NotUtf8 { offset: 3, .. })
        ));
        assert!(text("x".into(), "a: é".as_bytes().to_vec()).is_ok());
    }
}
