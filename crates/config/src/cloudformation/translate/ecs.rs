//! Translation of the template's ecs resources (to be written).

use super::Ctx;

/// Adds the template's ecs resources to the stack document.
pub(crate) fn translate(_cx: &mut Ctx<'_>) {}
