//! Functions compiled into the runner.

use crate::error::FunctionError;
use crate::record::{Effects, Level, Record};

/// A builtin function, chosen by `spec.builtin.name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// Republishes the input unchanged.
    Identity,
    /// Logs each message and produces nothing (a sink).
    Log,
}

impl Builtin {
    /// Looks a builtin function up by name.
    pub fn by_name(name: &str) -> Option<Builtin> {
        match name {
            "identity" => Some(Builtin::Identity),
            "log" => Some(Builtin::Log),
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
            Builtin::Log => Ok(Effects {
                logs: vec![(
                    Level::Info,
                    String::from_utf8_lossy(&record.payload).into_owned(),
                )],
                ..Effects::default()
            }),
        }
    }
}
