//! Objects: attribute values, templates and the spec's per-class rules.

pub mod attribute;
pub mod rules;
