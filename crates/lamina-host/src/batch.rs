//! Deferred writes of one request: collected, then sent in one round trip on SQLite (one
//! multi-statement query with globally numbered `$N` parameters, which the SQLite driver
//! binds by name) or one statement after another on PostgreSQL (whose extended protocol
//! takes one statement per query). The same SQL text runs on both.

use sqlx::AnyConnection;

use crate::error::Result;
use crate::store::Backend;

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// Text.
    Text(String),
    /// Nullable text.
    OptText(Option<String>),
    /// Integer.
    Int(i64),
    /// Nullable integer.
    OptInt(Option<i64>),
}

/// Writes waiting to be sent.
#[derive(Debug, Default)]
pub(crate) struct WriteBuf {
    stmts: Vec<(String, Vec<Val>)>,
}

/// `sql` with every `$N` placeholder shifted by `offset`.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            let mut digits = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                digits.push(d);
                chars.next();
            }
            match digits.parse::<usize>() {
                Ok(n) => out.push_str(&format!("${}", n + offset)),
                Err(_) => {
                    out.push('$');
                    out.push_str(&digits);
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    vals: Vec<Val>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for v in vals {
        q = match v {
            Val::Text(s) => q.bind(s),
            Val::OptText(s) => q.bind(s),
            Val::Int(i) => q.bind(i),
            Val::OptInt(i) => q.bind(i),
        };
    }
    q
}

impl WriteBuf {
    /// Queues a statement whose parameters are `$1..$n` = `vals`.
    pub(crate) fn push(&mut self, sql: &str, vals: Vec<Val>) {
        self.stmts.push((sql.to_owned(), vals));
    }

    /// The statements and their values, in order.
    pub(crate) fn into_statements(self) -> Vec<(String, Vec<Val>)> {
        self.stmts
    }

    /// Sends everything.
    pub(crate) async fn flush(self, conn: &mut AnyConnection, backend: Backend) -> Result<()> {
        if self.stmts.is_empty() {
            return Ok(());
        }
        match backend {
            Backend::Sqlite => {
                let mut sql = String::new();
                let mut all = Vec::new();
                for (s, vals) in self.stmts {
                    sql.push_str(&renumber(&s, all.len()));
                    sql.push_str(";\n");
                    all.extend(vals);
                }
                bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), all)
                    .execute(&mut *conn)
                    .await?;
            }
            Backend::Postgres => {
                for (s, vals) in self.stmts {
                    bind_all(sqlx::query(sqlx::AssertSqlSafe(s)), vals)
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbers_placeholders() {
        assert_eq!(
            renumber("UPDATE a SET x = $1 WHERE id = $2", 3),
            "UPDATE a SET x = $4 WHERE id = $5"
        );
        assert_eq!(renumber("VALUES ($10, $1)", 10), "VALUES ($20, $11)");
        assert_eq!(renumber("no params", 5), "no params");
    }
}
