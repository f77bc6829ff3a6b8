//! Translation of the template's ec2 resources (to be written).

use super::Ctx;

/// Adds the template's ec2 resources to the stack document.
pub(crate) fn translate(_cx: &mut Ctx<'_>) {}
