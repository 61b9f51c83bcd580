//! `text_enum!`: a fieldless enum stored as a TEXT column with a CHECK list
//! of values, spelled the same in SQL, JSON, the CLI and the code.

/// Declares an enum whose variants map one-to-one onto lowercase strings,
/// with `as_str`, `ALL`, `Display`, `FromStr` (failing with
/// [`Error::Invalid`](crate::Error::Invalid) on `$field`, listing the
/// accepted values) and serde using the same strings.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident for $field:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored in the database and shown in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;

            fn from_str(s: &str) -> $crate::Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::Error::Invalid {
                        field: $field,
                        message: format!(
                            "{s:?} is not one of {}",
                            [$($text),+].join(", ")
                        ),
                    }),
                }
            }
        }
    };
}

pub(crate) use text_enum;
