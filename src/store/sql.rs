//! Multi-row statement building: one `INSERT ... VALUES (...),(...)` per chunk is what makes
//! batches fast, and chunks keep each statement under the backends' bound-parameter limits.

use chrono::{DateTime, SecondsFormat, Utc};

use super::Backend;

/// Under SQLite's 32,766 (and PostgreSQL's 65,535) parameters per statement.
pub(crate) const MAX_PARAMS: usize = 32_000;

/// How many rows of `columns` parameters fit in one statement.
pub(crate) fn rows_per_statement(columns: usize) -> usize {
    (MAX_PARAMS / columns).max(1)
}

/// How many of `remaining` rows of `columns` parameters the next statement takes: as many as
/// fit, from a short menu of sizes. Every distinct row count is a distinct statement to prepare,
/// and a connection caches only so many: with the size a batch happened to have, each batch
/// prepared its statements anew; with the menu, a table has a handful of shapes, all cached.
pub(crate) fn statement_rows(remaining: usize, columns: usize) -> usize {
    let most = rows_per_statement(columns);
    if remaining >= most {
        return most;
    }
    [1024, 256, 64, 16, 4]
        .into_iter()
        .find(|&size| size <= remaining && size <= most)
        .unwrap_or(1)
}

/// `{head} VALUES ($1, $2), ($3, $4) {tail}` for `rows` rows of `columns` placeholders.
///
/// SQLite gets anonymous `?` placeholders instead: sqlx looks each numbered parameter up by name,
/// and SQLite's name lookup is a linear scan, so binding n `$n` parameters costs O(n²); for a
/// 1,000-row statement that was most of the time spent writing a batch.
pub(crate) fn multi_row_insert(
    backend: Backend,
    head: &str,
    columns: usize,
    rows: usize,
    tail: &str,
) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * columns * 7 + 8);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push(',');
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    n += 1;
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
        }
        sql.push(')');
    }
    if !tail.is_empty() {
        sql.push(' ');
        sql.push_str(tail);
    }
    sql
}

pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_across_rows() {
        assert_eq!(
            multi_row_insert(Backend::Postgres, "INSERT INTO t (a, b)", 2, 2, ""),
            "INSERT INTO t (a, b) VALUES ($1,$2),($3,$4)"
        );
        assert_eq!(
            multi_row_insert(Backend::Sqlite, "INSERT INTO t (a)", 1, 1, "RETURNING pk"),
            "INSERT INTO t (a) VALUES (?) RETURNING pk"
        );
    }

    #[test]
    fn chunks_stay_under_sqlite_limit() {
        assert!(rows_per_statement(18) * 18 <= 32_766);
        assert_eq!(rows_per_statement(40_000), 1);
    }

    #[test]
    fn statements_take_rows_in_a_few_sizes_that_add_up() {
        let mut shapes = std::collections::BTreeSet::new();
        for total in 0..3_000 {
            let (mut left, mut statements) = (total, 0);
            while left > 0 {
                let rows = statement_rows(left, 7);
                assert!(rows >= 1 && rows <= left);
                shapes.insert(rows);
                left -= rows;
                statements += 1;
            }
            assert!(
                statements <= 16,
                "{total} rows took {statements} statements"
            );
        }
        assert!(shapes.len() <= 7, "{shapes:?}");
        assert_eq!(statement_rows(10_000, 40_000), 1);
    }
}
