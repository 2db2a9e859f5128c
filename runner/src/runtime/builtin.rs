//! Functions compiled into the runner (builtin connectors live in crate::connectors).

use crate::error::FunctionError;
use crate::record::{Effects, Record};

/// A builtin function, chosen by `spec.builtin.name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// Republishes the input unchanged.
    Identity,
}

impl Builtin {
    /// Looks a builtin function up by name.
    pub fn by_name(name: &str) -> Option<Builtin> {
        match name {
            "identity" => Some(Builtin::Identity),
            _ => None,
        }
    }

    /// Runs the builtin on one record.
    pub fn process(self, record: &Record) -> Result<Effects, FunctionError> {
        match self {
            Builtin::Identity => Ok(Effects {
                output: Some(record.payload.clone()),
                ..Effects::default()
            }),
        }
    }
}
