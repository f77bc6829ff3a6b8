//! Translation of the template's identity resources (to be written).

use super::Ctx;

/// Adds the template's identity resources to the stack document.
pub(crate) fn translate(_cx: &mut Ctx<'_>) {}
