//! Translation of the template's apigateway resources (to be written).

use super::Ctx;

/// Adds the template's apigateway resources to the stack document.
pub(crate) fn translate(_cx: &mut Ctx<'_>) {}
