//! A problem found by validation, before the loader locates it in the file: shared by the stack
//! file's checks (`validate`) and the task definition checks (`taskdef`).

use crate::error::DiagnosticKind;

/// A problem found by validation, not yet located in the file.
#[derive(Debug)]
pub(crate) struct Issue {
    pub path: String,
    pub kind: DiagnosticKind,
    pub message: String,
    pub hint: String,
}
