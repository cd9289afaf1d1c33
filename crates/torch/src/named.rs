//! The spelling of a settings enum in configs and on the command line: one macro gives an enum
//! its `Display`, `FromStr` (an unknown spelling is [`crate::Error::UnknownName`] listing the
//! accepted ones) and the `String` conversions serde uses, so the names are written once.

/// Implements `Display`, `FromStr`, `TryFrom<String>` and `From<$ty> for String` from one table
/// of `Variant => "name"` pairs; `$what` names the setting in errors.
macro_rules! named_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $($ty::$variant => $name,)+
                })
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::error::Error;
            fn from_str(s: &str) -> $crate::error::Result<Self> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err($crate::error::Error::UnknownName {
                        what: $what,
                        value: s.to_string(),
                        expected: [$($name),+].join(", "),
                    }),
                }
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::error::Error;
            fn try_from(s: String) -> $crate::error::Result<Self> {
                s.parse()
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.to_string()
            }
        }
    };
}

pub(crate) use named_enum;
