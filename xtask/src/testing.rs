//! Throwaway copies of the workspace for tests that run the workflow on them.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{project::Project, workspace_root};

/// A throwaway copy of (parts of) the workspace, removed when dropped.
pub struct Scratch(pub Project);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0.root);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn scratch(name: &str, items: &[&str]) -> Scratch {
    let root =
        std::env::temp_dir().join(format!("iothub-jobs-xtask-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let source = workspace_root();
    for item in items {
        let (from, to) = (source.join(item), root.join(item));
        if from.is_dir() {
            copy_tree(&from, &to);
        } else {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
        }
    }
    Scratch(Project { root })
}

pub fn write_fixture(project: &Project, name: &str, doc: &Value) -> PathBuf {
    let path = project.path(name);
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}
