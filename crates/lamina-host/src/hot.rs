//! The connection the authorization hot path runs on, behind one small interface with two
//! implementations:
//!
//! * [`SqlxConn`]: a sqlx `Any` connection (PostgreSQL, and SQLite outside the writer);
//! * [`LiteConn`]: a `rusqlite` connection owned by the SQLite writer thread
//!   ([`crate::writer`]), with cached prepared statements and no thread hand-off per
//!   statement.
//!
//! Both run the same SQL text (`$N` placeholders, which SQLite reads as named
//! parameters) and map rows with the same functions through [`RowGet`], so the decision
//! and its writes are one code path whichever connection carries them.
//!
//! The interface is `async` because sqlx is; [`LiteConn`]'s futures never wait, and the
//! writer thread drives them with [`run_now`].

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use sqlx::{AnyConnection, Row};

use crate::batch::{Val, WriteBuf};
use crate::error::{HostError, Result};
use crate::store::Backend;

/// Column access shared by sqlx and rusqlite rows (the row mappers take `&dyn RowGet`).
pub(crate) trait RowGet {
    /// A non-null text column.
    fn text(&self, col: &str) -> Result<String>;
    /// A nullable text column.
    fn opt_text(&self, col: &str) -> Result<Option<String>>;
    /// A non-null integer column.
    fn int(&self, col: &str) -> Result<i64>;
}

impl RowGet for sqlx::any::AnyRow {
    fn text(&self, col: &str) -> Result<String> {
        Ok(self.try_get(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        Ok(self.try_get(col)?)
    }
    fn int(&self, col: &str) -> Result<i64> {
        Ok(self.try_get(col)?)
    }
}

impl RowGet for rusqlite::Row<'_> {
    fn text(&self, col: &str) -> Result<String> {
        Ok(self.get(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>> {
        Ok(self.get(col)?)
    }
    fn int(&self, col: &str) -> Result<i64> {
        Ok(self.get(col)?)
    }
}

/// A row mapper.
pub(crate) type MapRow<'f, T> = &'f (dyn Fn(&dyn RowGet) -> Result<T> + Sync);

/// The hot path's database operations.
pub(crate) trait HotConn {
    /// The engine (for `FOR UPDATE`).
    fn backend(&self) -> Backend;

    /// Runs a query and maps its first row, if any.
    fn fetch_optional<T>(
        &mut self,
        sql: &str,
        vals: Vec<Val>,
        map: MapRow<'_, T>,
    ) -> impl Future<Output = Result<Option<T>>>;

    /// Runs a query and maps every row.
    fn fetch_all<T>(
        &mut self,
        sql: &str,
        vals: Vec<Val>,
        map: MapRow<'_, T>,
    ) -> impl Future<Output = Result<Vec<T>>>;

    /// Runs one statement; returns the rows it changed.
    fn execute(&mut self, sql: &str, vals: Vec<Val>) -> impl Future<Output = Result<u64>>;

    /// Sends buffered writes.
    fn flush(&mut self, buf: WriteBuf) -> impl Future<Output = Result<()>>;

    /// `" FOR UPDATE"` on PostgreSQL, empty on SQLite (whose write transaction already
    /// holds the database lock).
    fn for_update(&self) -> &'static str {
        match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }
}

/// A sqlx connection on either engine.
pub(crate) struct SqlxConn<'c> {
    conn: &'c mut AnyConnection,
    backend: Backend,
}

impl<'c> SqlxConn<'c> {
    /// Wraps a connection (usually `&mut *tx`).
    pub(crate) fn new(conn: &'c mut AnyConnection, backend: Backend) -> Self {
        SqlxConn { conn, backend }
    }
}

/// `sql` with `$1..$n` bound to `vals`, as a sqlx query.
fn sqlx_query(
    sql: &str,
    vals: Vec<Val>,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    crate::batch::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())), vals)
}

impl HotConn for SqlxConn<'_> {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn fetch_optional<T>(
        &mut self,
        sql: &str,
        vals: Vec<Val>,
        map: MapRow<'_, T>,
    ) -> Result<Option<T>> {
        let row = sqlx_query(sql, vals)
            .fetch_optional(&mut *self.conn)
            .await?;
        row.as_ref().map(|r| map(r)).transpose()
    }

    async fn fetch_all<T>(
        &mut self,
        sql: &str,
        vals: Vec<Val>,
        map: MapRow<'_, T>,
    ) -> Result<Vec<T>> {
        let rows = sqlx_query(sql, vals).fetch_all(&mut *self.conn).await?;
        rows.iter().map(|r| map(r)).collect()
    }

    async fn execute(&mut self, sql: &str, vals: Vec<Val>) -> Result<u64> {
        Ok(sqlx_query(sql, vals)
            .execute(&mut *self.conn)
            .await?
            .rows_affected())
    }

    async fn flush(&mut self, buf: WriteBuf) -> Result<()> {
        buf.flush(&mut *self.conn, self.backend).await
    }
}

/// The SQLite writer thread's connection.
pub(crate) struct LiteConn<'c> {
    conn: &'c rusqlite::Connection,
}

impl<'c> LiteConn<'c> {
    /// Wraps the writer's connection.
    pub(crate) fn new(conn: &'c rusqlite::Connection) -> Self {
        LiteConn { conn }
    }

    /// A cached prepared statement with `$1..$n` bound to `vals`.
    fn prepare(&self, sql: &str, vals: &[Val]) -> Result<rusqlite::CachedStatement<'c>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        bind_lite(&mut stmt, vals)?;
        Ok(stmt)
    }
}

/// Binds `$N` (a named parameter to SQLite) to `vals[N - 1]`.
fn bind_lite(stmt: &mut rusqlite::Statement<'_>, vals: &[Val]) -> Result<()> {
    let mut name = String::with_capacity(4);
    for (i, v) in vals.iter().enumerate() {
        name.clear();
        name.push('$');
        name.push_str(&(i + 1).to_string());
        let Some(idx) = stmt.parameter_index(&name)? else {
            // A value the statement does not use.
            continue;
        };
        match v {
            Val::Text(s) => stmt.raw_bind_parameter(idx, s.as_str())?,
            Val::OptText(s) => stmt.raw_bind_parameter(idx, s.as_deref())?,
            Val::Int(n) => stmt.raw_bind_parameter(idx, n)?,
            Val::OptInt(n) => stmt.raw_bind_parameter(idx, n)?,
        }
    }
    Ok(())
}

impl HotConn for LiteConn<'_> {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn fetch_optional<T>(
        &mut self,
        sql: &str,
        vals: Vec<Val>,
        map: MapRow<'_, T>,
    ) -> Result<Option<T>> {
        let mut stmt = self.prepare(sql, &vals)?;
        let mut rows = stmt.raw_query();
        match rows.next()? {
            Some(r) => map(r).map(Some),
            None => Ok(None),
        }
    }

    async fn fetch_all<T>(
        &mut self,
        sql: &str,
        vals: Vec<Val>,
        map: MapRow<'_, T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.prepare(sql, &vals)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(map(r)?);
        }
        Ok(out)
    }

    async fn execute(&mut self, sql: &str, vals: Vec<Val>) -> Result<u64> {
        let mut stmt = self.prepare(sql, &vals)?;
        let n = stmt.raw_execute()?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    async fn flush(&mut self, buf: WriteBuf) -> Result<()> {
        for (sql, vals) in buf.into_statements() {
            let mut stmt = self.prepare(&sql, &vals)?;
            stmt.raw_execute()?;
        }
        Ok(())
    }
}

/// Drives a future that never waits (one built on [`LiteConn`]) to completion on the
/// current thread. A future that does wait is a programming error reported as
/// [`HostError::Config`], not a hang.
pub(crate) fn run_now<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(HostError::Config(
            "the SQLite writer ran a request that waited on an async resource".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lite() -> rusqlite::Connection {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL, note TEXT)")
            .unwrap();
        c
    }

    #[test]
    fn lite_binds_dollar_parameters_by_number() {
        let c = lite();
        let mut h = LiteConn::new(&c);
        let mut buf = WriteBuf::default();
        // $2 before $1 and $1 twice: bound by name, not by position.
        buf.push(
            "INSERT INTO t (n, id, note) VALUES ($2, $1, $1 || '!')",
            vec![Val::Text("a".into()), Val::Int(7)],
        );
        buf.push(
            "INSERT INTO t (id, n, note) VALUES ($1, $2, $3)",
            vec![Val::Text("b".into()), Val::Int(-3), Val::OptText(None)],
        );
        run_now(h.flush(buf)).unwrap();
        let map: MapRow<'_, (String, i64, Option<String>)> =
            &|r| Ok((r.text("id")?, r.int("n")?, r.opt_text("note")?));
        let all =
            run_now(h.fetch_all("SELECT id, n, note FROM t ORDER BY id", vec![], map)).unwrap();
        assert_eq!(
            all,
            vec![("a".into(), 7, Some("a!".into())), ("b".into(), -3, None)]
        );
        let one = run_now(h.fetch_optional(
            "SELECT id, n, note FROM t WHERE n < $1",
            vec![Val::Int(0)],
            map,
        ))
        .unwrap();
        assert_eq!(one.map(|x| x.0), Some("b".to_string()));
        let n = run_now(h.execute(
            "UPDATE t SET n = n + $1 WHERE id = $2",
            vec![Val::Int(1), Val::Text("zz".into())],
        ))
        .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn lite_errors_are_errors() {
        let c = lite();
        let mut h = LiteConn::new(&c);
        let map: MapRow<'_, String> = &|r| r.text("nope");
        assert!(run_now(h.fetch_optional("SELECT id FROM t", vec![], map)).is_ok());
        assert!(run_now(h.execute("INSERT INTO missing VALUES (1)", vec![])).is_err());
        // A constraint violation.
        run_now(h.execute("INSERT INTO t (id, n) VALUES ('x', 1)", vec![])).unwrap();
        assert!(run_now(h.execute("INSERT INTO t (id, n) VALUES ('x', 1)", vec![])).is_err());
    }

    #[test]
    fn run_now_refuses_a_waiting_future() {
        let r: Result<()> = run_now(async {
            std::future::pending::<()>().await;
            Ok(())
        });
        assert!(matches!(r, Err(HostError::Config(_))));
    }
}
