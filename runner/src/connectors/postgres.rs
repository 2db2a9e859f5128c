//! What the `postgres-cdc` source and the `postgres` sink share: the connection (plain TCP,
//! password from `secretsMap.password`), identifier quoting, and reconnect pacing.

use std::time::Duration;

use fmesh_crds::connectors::postgres::PASSWORD;
use tokio_postgres::{Client, NoTls};

use crate::spec::Plan;

/// First and longest pause between reconnects.
pub const RETRY_START: Duration = Duration::from_millis(200);
pub const RETRY_MAX: Duration = Duration::from_secs(10);

/// Where and as whom to connect.
#[derive(Clone, Debug)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: Option<String>,
}

impl Target {
    /// The target of a connector config, with the password from the plan's secrets.
    pub fn new(plan: &Plan, host: &str, port: u16, database: &str, user: &str) -> Target {
        Target {
            host: host.to_string(),
            port,
            database: database.to_string(),
            user: user.to_string(),
            password: plan.secrets.get(PASSWORD).cloned(),
        }
    }

    /// Connects; the connection is driven by a task that ends when the client is dropped.
    pub async fn connect(&self, application: &str) -> Result<Client, tokio_postgres::Error> {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(&self.host)
            .port(self.port)
            .dbname(&self.database)
            .user(&self.user)
            .application_name(application)
            .connect_timeout(Duration::from_secs(10));
        if let Some(p) = &self.password {
            cfg.password(p);
        }
        let (client, connection) = cfg.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "postgres connection ended");
            }
        });
        Ok(client)
    }
}

/// What Postgres said (tokio-postgres' own Display says only "db error"), with its hint.
pub fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => match d.hint() {
            Some(h) => format!("{} ({h})", d.message()),
            None => d.message().to_string(),
        },
        None => e.to_string(),
    }
}

/// `"name"`, with embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table reference as written in config (`schema.table`, `table`, either part quoted) in
/// the quoted form SQL needs. Unquoted parts fold to lower case, as Postgres folds them.
pub fn quote_table(name: &str) -> String {
    split_qualified(name)
        .iter()
        .map(|p| quote_ident(p))
        .collect::<Vec<_>>()
        .join(".")
}

fn split_qualified(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = name.chars().peekable();
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '.' if !quoted => {
                parts.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            c if quoted || was_quoted => cur.push(c),
            c => cur.push(c.to_ascii_lowercase()),
        }
    }
    parts.push(cur);
    parts
}

/// A slot or publication name from a Source name: lower case letters, digits and `_`.
pub fn object_name(prefix: &str, name: &str) -> String {
    let body: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    // Postgres names are at most 63 bytes.
    format!("{prefix}{body}").chars().take(63).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_as_postgres_reads_them() {
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(quote_table("Shop.Orders"), r#""shop"."orders""#);
        assert_eq!(quote_table(r#""Shop"."a.b""#), r#""Shop"."a.b""#);
        assert_eq!(quote_table("orders"), r#""orders""#);
    }

    #[test]
    fn slot_names_are_valid_postgres_names() {
        assert_eq!(object_name("fmesh_", "orders-cdc"), "fmesh_orders_cdc");
        assert_eq!(object_name("fmesh_", &"x".repeat(100)).len(), 63);
    }
}
