//! Reading rows through sqlx's Any driver without trusting their contents.
//!
//! Any decodes only basic types (integers, floats, text, bytes, and `bool`
//! from a real PostgreSQL BOOLEAN only), so domain types are rebuilt here
//! from integers and text, and a value outside its domain becomes
//! [`Error::Corrupt`] instead of a panic or a silent default.

use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::{Error, Result};

/// A TEXT column holding a [`text_enum!`](crate::text_enum) value.
pub(crate) fn text_enum<T: FromStr>(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> Result<T> {
    let text: String = row.try_get(column)?;
    text.parse().map_err(|_| Error::Corrupt {
        table,
        column,
        value: text,
    })
}

/// An INTEGER 0/1 column as a `bool` (see the migrations for why booleans
/// are integers on both databases).
pub(crate) fn flag(row: &AnyRow, table: &'static str, column: &'static str) -> Result<bool> {
    // i64 decodes from PostgreSQL INTEGER (int4) and SQLite INTEGER (int64)
    // alike: Any widens any integer kind.
    match row.try_get::<i64, _>(column)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Error::Corrupt {
            table,
            column,
            value: other.to_string(),
        }),
    }
}

/// A `bool` as bound into an INTEGER 0/1 column. `i32` so that PostgreSQL
/// sees an int4 parameter, the column's own type.
pub(crate) fn flag_param(value: bool) -> i32 {
    i32::from(value)
}

/// A nullable integer column that must fit `T` (a width, a count).
pub(crate) fn opt_int<T: TryFrom<i64>>(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> Result<Option<T>> {
    row.try_get::<Option<i64>, _>(column)?
        .map(|v| {
            T::try_from(v).map_err(|_| Error::Corrupt {
                table,
                column,
                value: v.to_string(),
            })
        })
        .transpose()
}

/// A NOT NULL integer column that must fit `T`.
pub(crate) fn int<T: TryFrom<i64>>(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> Result<T> {
    let v: i64 = row.try_get(column)?;
    T::try_from(v).map_err(|_| Error::Corrupt {
        table,
        column,
        value: v.to_string(),
    })
}

#[cfg(test)]
mod tests {
    //! Pins what sqlx's Any driver can decode for booleans, the reason the
    //! schema stores them as INTEGER 0/1. If a future sqlx changes this,
    //! these fail and the choice can be revisited.

    use sqlx::Row;

    use crate::Backend;
    use crate::testutil::each_backend;

    #[tokio::test]
    async fn any_decodes_booleans_differently_per_backend() {
        each_backend(async |db| {
            let mut conn = db.pool.acquire().await.unwrap();
            // An integer 0/1 reads as an integer on both backends ...
            let row = sqlx::query("SELECT CAST(1 AS INTEGER) AS b")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(row.try_get::<i64, _>("b").unwrap(), 1);
            // ... and never as a bool.
            assert!(row.try_get::<bool, _>("b").is_err());

            match db.backend() {
                Backend::Postgres => {
                    // A real BOOLEAN reads only as bool.
                    let row = sqlx::query("SELECT TRUE AS b")
                        .fetch_one(&mut *conn)
                        .await
                        .unwrap();
                    assert!(row.try_get::<bool, _>("b").unwrap());
                    assert!(row.try_get::<i64, _>("b").is_err());
                }
                Backend::Sqlite => {
                    // A column declared BOOLEAN cannot be read at all.
                    sqlx::raw_sql(
                        "CREATE TEMP TABLE bool_probe (b BOOLEAN); \
                         INSERT INTO bool_probe VALUES (1);",
                    )
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                    // (AnyRow is not Debug, so no unwrap_err.)
                    let Err(err) = sqlx::query("SELECT b FROM bool_probe")
                        .fetch_one(&mut *conn)
                        .await
                    else {
                        panic!("a BOOLEAN column decoded through Any on SQLite");
                    };
                    assert!(err.to_string().contains("Bool"), "{err}");
                }
            }
        })
        .await;
    }

    #[tokio::test]
    async fn flags_round_trip_through_the_schema() {
        each_backend(async |db| {
            for value in [false, true] {
                let row = sqlx::query("SELECT CAST($1 AS INTEGER) AS enabled")
                    .bind(super::flag_param(value))
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
                assert_eq!(super::flag(&row, "t", "enabled").unwrap(), value);
            }
            let row = sqlx::query("SELECT CAST(2 AS INTEGER) AS enabled")
                .fetch_one(&db.pool)
                .await
                .unwrap();
            assert!(matches!(
                super::flag(&row, "t", "enabled"),
                Err(crate::Error::Corrupt { value, .. }) if value == "2"
            ));
        })
        .await;
    }
}
