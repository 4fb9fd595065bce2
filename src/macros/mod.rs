//! `event!` and its shorthands `trace!`, `debug!`, `info!`, `warn!`, `error!`.
//!
//! Everything the hot path needs is decided at compile time: static call sites (level,
//! target, message, field names, file, line) per macro invocation, one set per level when the
//! level is a run-time value, and the typed values copied into the ring in binary. A message
//! with plain `{}`/`{:?}` placeholders and arguments of the types the record carries travels
//! as typed values and is formatted on the collector; any other message (format specs,
//! `{0}`, `{name}`, other argument types) is rendered on the calling thread into a fixed
//! stack buffer, as `?value` and `%value` fields are.

/// Records a structured event: a message (a format string literal) with its arguments and
/// named, typed fields, copied into the calling thread's ring in binary.
///
/// # Forms
///
/// * `event!(tw, level, "message {}", arg, ..., name = value, ...)` on an instance (`tw`
///   may be a [`Telemetry`](crate::Telemetry), a reference to one or an `Arc`);
/// * `event!(level, "message {}", arg, ..., name = value, ...)` on the global instance
///   ([`install`](crate::install)); with none installed the call is counted in
///   [`calls_without_instance`](crate::calls_without_instance).
///
/// `level` is any expression of type [`Level`](crate::Level): a constant such as
/// `Level::Info`, or a variable. The message is a string literal taking everything
/// `format!` takes, checked by the compiler like `format!`'s; it is written as `format!`
/// would write it. Where that happens depends on the literal and the arguments' types, fixed
/// at compile time per call site:
///
/// | message | arguments | formatted |
/// |---|---|---|
/// | no placeholders, or only `{}` / `{:?}` (and `{{` `}}` with at least one argument) | each an integer up to 64 bits, `f64`, `bool`, `&str`, `String` or `&String` (or references to them) | **on the collector**: the arguments are copied into the ring as typed values (no formatting, no allocation on the calling thread) |
/// | the same | any other `Display` / `Debug` type: `f32`, `Option`, `char`, `u128`/`i128`, `Duration`, errors, your own types, generics | **on the calling thread**, with `format_args!`, into a 256-byte stack buffer (no allocation) |
/// | format specs (`{:.2}`, `{:>5}`, `{:x}`, `{:#?}`, `{:e}`, ...), positions (`{0}`), inline captures (`{id}`), or `{{`/`}}` without arguments | any | **on the calling thread**, as above |
///
/// A message rendered on the calling thread costs its formatting there; if it is longer than
/// 256 bytes it is cut at a character boundary and the record flagged `truncated` (counted in
/// [`Stats::truncated`](crate::Stats::truncated)). It arrives as the message text, and the
/// call site's [`message`](crate::logging::Callsite::message) is then `"{}"` with one
/// argument. Arguments are borrowed, never moved (`info!(tw, "{}", s)` leaves `s` usable).
/// An argument whose type lacks the trait its placeholder asks for (`Display` for `{}`,
/// `Debug` for `{:?}`) is a compile error at the call, as with `format!`.
///
/// Fields come after the arguments:
///
/// | form | value |
/// |---|---|
/// | `name = value` | anything [`FieldRef`](crate::FieldRef) converts from: integers, floats, `bool`, `&str`, `&String`, and an `Option` of those (`None` is JSON `null`) |
/// | `name = ?value`, `?name` | `value`'s `Debug`, rendered on the calling thread |
/// | `name = %value`, `%name` | `value`'s `Display`, rendered on the calling thread |
/// | `name` (after the first field) | `name = name` |
///
/// A raw identifier is recorded without its `r#` (`r#type = 1u64` is the field `type`).
///
/// A bare `name` is a field only once the fields have begun (after a `name = value`, `?name` or
/// `%name`); before that it is the message's next format argument, which the compiler rejects
/// if the message has no placeholder left for it. (`tracing` puts fields before the message;
/// here they follow it, so `info!("filled", qty = qty, px)` or `info!("filled", %venue, px)`.)
///
/// A `?`/`%` field is rendered into a 256-byte stack buffer (no allocation); a longer
/// rendering is cut at a character boundary and the record flagged `truncated` (counted in
/// [`Stats::truncated`](crate::Stats::truncated)). Every other field form copies its value
/// without formatting.
///
/// Nothing is evaluated when the event is filtered out: first the instance's lowest level
/// (a load and a branch), then, when per-target levels are set
/// ([`target_level`](crate::TelemetryBuilder::target_level)), the call site's own cached
/// decision (a few loads and a branch), both before any argument or field is evaluated or
/// rendered.
///
/// ```
/// use tickwatch::{event, Level, Telemetry};
/// let tw = Telemetry::builder().start().unwrap();
/// let (id, venue, px) = (42u64, String::from("XNAS"), 101.25);
/// let level = if px > 100.0 { Level::Warn } else { Level::Info };
/// event!(tw, Level::Info, "order filled", order_id = id, px = px, venue = &venue);
/// event!(tw, level, "order {} rejected at {}", id, px, reason = "limit", parent = None::<u64>);
/// let side = std::cmp::Ordering::Less;
/// event!(&tw, Level::Debug, "book", ?side, depth = %px);
/// event!(tw, Level::Info, "filled", order_id = id, px); // `px` is `px = px`
/// // Rendered on the calling thread: a format spec, an inline capture, a `char`.
/// event!(tw, Level::Info, "px {:.2} for {id} side {}", px, 'B');
/// ```
///
/// Misuse is a compile error at the call:
///
/// ```compile_fail
/// # let tw = tickwatch::Telemetry::builder().start().unwrap();
/// let message = String::from("built at run time");
/// tickwatch::event!(tw, tickwatch::Level::Info, message); // the message must be a literal
/// ```
///
/// ```compile_fail
/// # let tw = tickwatch::Telemetry::builder().start().unwrap();
/// tickwatch::event!(tw, tickwatch::Level::Info, "{} and {}", 1u64); // two placeholders, one argument
/// ```
///
/// ```compile_fail
/// # let tw = tickwatch::Telemetry::builder().start().unwrap();
/// tickwatch::event!(tw, 3, "not a level"); // expected `Level`, found integer
/// ```
///
/// ```compile_fail
/// # let tw = tickwatch::Telemetry::builder().start().unwrap();
/// struct Order;
/// tickwatch::event!(tw, tickwatch::Level::Info, "x", order = Order); // no FieldRef from Order: use ?order
/// ```
#[macro_export]
macro_rules! event {
    // Global instance, level path known: one call site.
    (Level::$l:ident, $msg:literal $($rest:tt)*) => {
        $crate::__event_global!((single Level::$l) $msg $($rest)*)
    };
    // Global instance, any level.
    ($lvl:expr, $msg:literal $($rest:tt)*) => {
        $crate::__event_global!((dynamic $lvl) $msg $($rest)*)
    };
    // An instance, level path known: one call site.
    ($tw:expr, Level::$l:ident, $msg:literal $($rest:tt)*) => {
        $crate::__event_args!(($tw) (single Level::$l) ($msg) [] $($rest)*)
    };
    // An instance, any level: one call site per level, picked at run time.
    ($tw:expr, $lvl:expr, $msg:literal $($rest:tt)*) => {
        $crate::__event_args!(($tw) (dynamic $lvl) ($msg) [] $($rest)*)
    };
    ($tw:expr, $lvl:expr, $msg:expr $(, $($rest:tt)*)?) => {
        ::core::compile_error!(
            "event!: the message must be a string literal; for text built at run time write \"{}\", text"
        )
    };
    ($lvl:expr, $msg:expr $(,)?) => {
        ::core::compile_error!(
            "event!: the message must be a string literal; for text built at run time write \"{}\", text"
        )
    };
}

/// The global form of [`event!`]: `(single|dynamic level) "message" rest`.
#[doc(hidden)]
#[macro_export]
macro_rules! __event_global {
    ($lv:tt $msg:literal $($rest:tt)*) => {
        match $crate::global() {
            ::core::option::Option::Some(__tw) => {
                $crate::__event_args!((__tw) $lv ($msg) [] $($rest)*)
            }
            ::core::option::Option::None => $crate::__private::count_call_without_instance(),
        }
    };
}

/// Collects the message's format arguments (every argument before the first field).
#[doc(hidden)]
#[macro_export]
macro_rules! __event_args {
    // The first field ends the arguments.
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] , $k:ident = $($rest:tt)*) => {
        $crate::__event_fields!(($tw) $lv ($msg) [$($a),*] [] , $k = $($rest)*)
    };
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] , ? $($rest:tt)*) => {
        $crate::__event_fields!(($tw) $lv ($msg) [$($a),*] [] , ? $($rest)*)
    };
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] , % $($rest:tt)*) => {
        $crate::__event_fields!(($tw) $lv ($msg) [$($a),*] [] , % $($rest)*)
    };
    // No fields.
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] $(,)?) => {
        $crate::__event_emit!(($tw) $lv ($msg) [$($a),*] [])
    };
    // One more argument.
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] , $arg:expr $(, $($rest:tt)*)?) => {
        $crate::__event_args!(($tw) $lv ($msg) [$($a,)* $arg] $(, $($rest)*)?)
    };
}

/// Collects the fields: `(name kind (value))` with kind `plain`, `debug` or `display`.
#[doc(hidden)]
#[macro_export]
macro_rules! __event_fields {
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] [$($f:tt)*] , $k:ident = ? $v:expr $(, $($rest:tt)*)?) => {
        $crate::__event_fields!(($tw) $lv ($msg) [$($a),*] [$($f)* ($k debug ($v))] $(, $($rest)*)?)
    };
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] [$($f:tt)*] , $k:ident = % $v:expr $(, $($rest:tt)*)?) => {
        $crate::__event_fields!(($tw) $lv ($msg) [$($a),*] [$($f)* ($k display ($v))] $(, $($rest)*)?)
    };
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] [$($f:tt)*] , $k:ident = $v:expr $(, $($rest:tt)*)?) => {
        $crate::__event_fields!(($tw) $lv ($msg) [$($a),*] [$($f)* ($k plain ($v))] $(, $($rest)*)?)
    };
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] [$($f:tt)*] , ? $k:ident $(, $($rest:tt)*)?) => {
        $crate::__event_fields!(($tw) $lv ($msg) [$($a),*] [$($f)* ($k debug ($k))] $(, $($rest)*)?)
    };
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] [$($f:tt)*] , % $k:ident $(, $($rest:tt)*)?) => {
        $crate::__event_fields!(($tw) $lv ($msg) [$($a),*] [$($f)* ($k display ($k))] $(, $($rest)*)?)
    };
    // A bare name after the first field: `name = name` (before it, a bare name is a
    // format argument).
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] [$($f:tt)*] , $k:ident $(, $($rest:tt)*)?) => {
        $crate::__event_fields!(($tw) $lv ($msg) [$($a),*] [$($f)* ($k plain ($k))] $(, $($rest)*)?)
    };
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] [$($f:tt)*] $(,)?) => {
        $crate::__event_emit!(($tw) $lv ($msg) [$($a),*] [$($f)*])
    };
    (($tw:expr) $lv:tt ($msg:literal) [$($a:expr),*] [$($f:tt)*] , $($rest:tt)*) => {
        ::core::compile_error!(
            "event!: after the first field, every argument must be a field (`name = value`, `name = ?value`, `name = %value`, `name`, `?name` or `%name`): put the message's format arguments before the fields"
        )
    };
}

/// Emits the event: the level's floor, then the call site's own (cached, per-target)
/// decision, and only then the values: a disabled event evaluates nothing.
///
/// Two static call sites per invocation: the typed one (the literal as the message, its
/// arguments as typed values, formatted on the collector) and the rendered one (message
/// `"{}"`, one argument: the message rendered on the calling thread). Which one an event
/// uses is fixed at compile time by the literal and the arguments' types.
#[doc(hidden)]
#[macro_export]
macro_rules! __event_emit {
    (($tw:expr) (single $lvl:expr) ($msg:literal) [$($a:expr),*] [$($f:tt)*]) => {{
        let __src = &$tw;
        let __tw: &$crate::Telemetry = $crate::__private::AsTelemetry::as_telemetry(__src);
        if __tw.enabled($lvl) {
            const __PLAIN: bool = $crate::__private::plain_format(
                $msg,
                $crate::__private::count_args(&[$(::core::stringify!($a)),*]),
            );
            static __TYPED: $crate::logging::Callsite = $crate::logging::Callsite::new(
                $lvl,
                ::core::module_path!(),
                $msg,
                $crate::__event_names!($($f)*),
                ::core::file!(),
                ::core::line!(),
            )
            .with_args($crate::__private::count_args(&[$(::core::stringify!($a)),*]));
            static __RENDERED: $crate::logging::Callsite = $crate::logging::Callsite::new(
                $lvl,
                ::core::module_path!(),
                "{}",
                $crate::__event_names!($($f)*),
                ::core::file!(),
                ::core::line!(),
            )
            .with_args(1);
            if __tw.__callsite_enabled(if __PLAIN { &__TYPED } else { &__RENDERED }) {
                let __truncated = ::core::cell::Cell::new(false);
                $crate::__event_bind!(__tw (__PLAIN) (&__TYPED) ((&__RENDERED) __truncated) ($msg) [] [$($a),*] [] [$($f)*]);
            }
        }
    }};
    (($tw:expr) (dynamic $lvl:expr) ($msg:literal) [$($a:expr),*] [$($f:tt)*]) => {{
        let __src = &$tw;
        let __tw: &$crate::Telemetry = $crate::__private::AsTelemetry::as_telemetry(__src);
        let __lvl: $crate::Level = $lvl;
        if __tw.enabled(__lvl) {
            const __PLAIN: bool = $crate::__private::plain_format(
                $msg,
                $crate::__private::count_args(&[$(::core::stringify!($a)),*]),
            );
            static __TYPED: [$crate::logging::Callsite; 5] =
                $crate::logging::Callsite::per_level(
                    ::core::module_path!(),
                    $msg,
                    $crate::__event_names!($($f)*),
                    ::core::file!(),
                    ::core::line!(),
                    $crate::__private::count_args(&[$(::core::stringify!($a)),*]),
                );
            static __RENDERED: [$crate::logging::Callsite; 5] =
                $crate::logging::Callsite::per_level(
                    ::core::module_path!(),
                    "{}",
                    $crate::__event_names!($($f)*),
                    ::core::file!(),
                    ::core::line!(),
                    1,
                );
            let __typed = &__TYPED[__lvl as usize];
            let __rendered = &__RENDERED[__lvl as usize];
            if __tw.__callsite_enabled(if __PLAIN { __typed } else { __rendered }) {
                let __truncated = ::core::cell::Cell::new(false);
                $crate::__event_bind!(__tw (__PLAIN) (__typed) ((__rendered) __truncated) ($msg) [] [$($a),*] [] [$($f)*]);
            }
        }
    }};
}

/// The field names of `(name kind (value))` fields, `r#` stripped from raw identifiers.
#[doc(hidden)]
#[macro_export]
macro_rules! __event_names {
    ($(($k:ident $kind:ident ($v:expr)))*) => {
        &[$($crate::__private::field_name(::core::stringify!($k))),*]
    };
}

/// Evaluates the format arguments then the fields once each, in order, each bound to its
/// own (hygienic) name: an argument by reference, a field as its `FieldRef` (a rendered
/// field's buffer lives until the event is written); then `__event_values`.
#[doc(hidden)]
#[macro_export]
macro_rules! __event_bind {
    // Every argument and field bound.
    ($tw:ident $p:tt $t:tt $r:tt $m:tt [$($b:ident)*] [] [$($fb:ident)*] []) => {{
        #[allow(unused_imports)]
        use $crate::__private::{ArgDeferred as _, ArgRendered as _};
        $crate::__event_values!($tw $p $t $r $m [$($b)*] [$($fb)*])
    }};
    // The next argument.
    ($tw:ident $p:tt $t:tt $r:tt $m:tt [$($b:ident)*] [$a:expr $(, $rest:expr)*] [] $f:tt) => {
        match &$a {
            __arg => $crate::__event_bind!($tw $p $t $r $m [$($b)* __arg] [$($rest),*] [] $f),
        }
    };
    // The next field.
    ($tw:ident $p:tt $t:tt $r:tt $m:tt $b:tt [] [$($fb:ident)*] [($k:ident $kind:ident ($v:expr)) $($f:tt)*]) => {
        match $crate::__event_get!($r $kind ($v)) {
            __field => $crate::__event_bind!($tw $p $t $r $m $b [] [$($fb)* __field] [$($f)*]),
        }
    };
}

/// Writes the event. The typed path (a literal with only `{}`/`{:?}` placeholders and
/// arguments of the types the record carries: integers up to 64 bits, `f64`, `bool`, string
/// slices and `String`s) copies the arguments as typed values; the collector formats the
/// message. Otherwise (format specs, `{0}`, `{name}`, or another argument type) the message
/// is rendered here with `format_args!` into a 256-byte stack buffer, truncation counted,
/// and travels as the rendered call site's one argument. The choice is constant per call
/// site (the literal is scanned at compile time, each argument's type picks its trait
/// impl), so the other branch is compiled out.
#[doc(hidden)]
#[macro_export]
macro_rules! __event_values {
    ($tw:ident ($plain:ident) ($typed:expr) (($rendered:expr) $cut:ident) ($msg:literal) [$($b:ident)*] [$($fb:ident)*]) => {
        if $plain $(&& (&$crate::__private::Arg($b)).deferred())* {
            $tw.__emit_values(
                $typed,
                [$((&$crate::__private::Arg($b)).field(),)* $($fb,)*],
                $cut.get(),
            )
        } else {
            match $crate::__private::Render::message(::core::format_args!($msg $(, $b)*)) {
                __message => $tw.__emit_values(
                    $rendered,
                    [$crate::__private::Field::noting(&__message, &$cut), $($fb,)*],
                    $cut.get(),
                ),
            }
        }
    };
}

/// One field's value as a `FieldRef`; a rendered one notes in `$t` if it was cut.
#[doc(hidden)]
#[macro_export]
macro_rules! __event_get {
    (($r:tt $t:ident) plain ($v:expr)) => {
        $crate::__private::IntoField::into_field($v)
    };
    (($r:tt $t:ident) debug ($v:expr)) => {
        $crate::__private::Field::noting(&$crate::__private::Render::debug(&$v), &$t)
    };
    (($r:tt $t:ident) display ($v:expr)) => {
        $crate::__private::Field::noting(&$crate::__private::Render::display(&$v), &$t)
    };
}

/// An [`event!`] at `Level::Trace`: the same forms without the level,
/// `trace!(tw, "message {}", arg, name = value)` on an instance and `trace!("message", ...)`
/// on the global instance.
#[macro_export]
macro_rules! trace {
    ($msg:literal $($rest:tt)*) => {
        $crate::__event_global!((single $crate::Level::Trace) $msg $($rest)*)
    };
    ($tw:expr, $msg:literal $($rest:tt)*) => {
        $crate::__event_args!(($tw) (single $crate::Level::Trace) ($msg) [] $($rest)*)
    };
    ($tw:expr, $msg:expr $(, $($rest:tt)*)?) => {
        ::core::compile_error!(
            "trace!: the message must be a string literal; for text built at run time write \"{}\", text"
        )
    };
    ($msg:expr $(,)?) => {
        ::core::compile_error!(
            "trace!: the message must be a string literal; for text built at run time write \"{}\", text"
        )
    };
}

/// An [`event!`] at `Level::Debug`: the same forms without the level,
/// `debug!(tw, "message {}", arg, name = value)` on an instance and `debug!("message", ...)`
/// on the global instance.
#[macro_export]
macro_rules! debug {
    ($msg:literal $($rest:tt)*) => {
        $crate::__event_global!((single $crate::Level::Debug) $msg $($rest)*)
    };
    ($tw:expr, $msg:literal $($rest:tt)*) => {
        $crate::__event_args!(($tw) (single $crate::Level::Debug) ($msg) [] $($rest)*)
    };
    ($tw:expr, $msg:expr $(, $($rest:tt)*)?) => {
        ::core::compile_error!(
            "debug!: the message must be a string literal; for text built at run time write \"{}\", text"
        )
    };
    ($msg:expr $(,)?) => {
        ::core::compile_error!(
            "debug!: the message must be a string literal; for text built at run time write \"{}\", text"
        )
    };
}

/// An [`event!`] at `Level::Info`: the same forms without the level,
/// `info!(tw, "message {}", arg, name = value)` on an instance and `info!("message", ...)`
/// on the global instance.
///
/// ```
/// let tw = tickwatch::Telemetry::builder().start().unwrap();
/// tickwatch::info!(tw, "order {} filled", 42u64, px = 101.25, venue = "XNAS");
/// let _guard = tickwatch::install(tickwatch::Telemetry::builder()).unwrap();
/// tickwatch::info!("engine started", version = 3u64);
/// ```
#[macro_export]
macro_rules! info {
    ($msg:literal $($rest:tt)*) => {
        $crate::__event_global!((single $crate::Level::Info) $msg $($rest)*)
    };
    ($tw:expr, $msg:literal $($rest:tt)*) => {
        $crate::__event_args!(($tw) (single $crate::Level::Info) ($msg) [] $($rest)*)
    };
    ($tw:expr, $msg:expr $(, $($rest:tt)*)?) => {
        ::core::compile_error!(
            "info!: the message must be a string literal; for text built at run time write \"{}\", text"
        )
    };
    ($msg:expr $(,)?) => {
        ::core::compile_error!(
            "info!: the message must be a string literal; for text built at run time write \"{}\", text"
        )
    };
}

/// An [`event!`] at `Level::Warn`: the same forms without the level,
/// `warn!(tw, "message {}", arg, name = value)` on an instance and `warn!("message", ...)`
/// on the global instance.
#[macro_export]
macro_rules! warn {
    ($msg:literal $($rest:tt)*) => {
        $crate::__event_global!((single $crate::Level::Warn) $msg $($rest)*)
    };
    ($tw:expr, $msg:literal $($rest:tt)*) => {
        $crate::__event_args!(($tw) (single $crate::Level::Warn) ($msg) [] $($rest)*)
    };
    ($tw:expr, $msg:expr $(, $($rest:tt)*)?) => {
        ::core::compile_error!(
            "warn!: the message must be a string literal; for text built at run time write \"{}\", text"
        )
    };
    ($msg:expr $(,)?) => {
        ::core::compile_error!(
            "warn!: the message must be a string literal; for text built at run time write \"{}\", text"
        )
    };
}

/// An [`event!`] at `Level::Error`: the same forms without the level,
/// `error!(tw, "message {}", arg, name = value)` on an instance and `error!("message", ...)`
/// on the global instance.
#[macro_export]
macro_rules! error {
    ($msg:literal $($rest:tt)*) => {
        $crate::__event_global!((single $crate::Level::Error) $msg $($rest)*)
    };
    ($tw:expr, $msg:literal $($rest:tt)*) => {
        $crate::__event_args!(($tw) (single $crate::Level::Error) ($msg) [] $($rest)*)
    };
    ($tw:expr, $msg:expr $(, $($rest:tt)*)?) => {
        ::core::compile_error!(
            "error!: the message must be a string literal; for text built at run time write \"{}\", text"
        )
    };
    ($msg:expr $(,)?) => {
        ::core::compile_error!(
            "error!: the message must be a string literal; for text built at run time write \"{}\", text"
        )
    };
}

#[doc(hidden)]
pub mod __private;

#[cfg(test)]
mod tests {
    use super::__private::{field_name, plain_format};

    #[test]
    fn only_plain_placeholders_are_left_to_the_collector() {
        // Formatted on the collector.
        for (m, n) in [
            ("order filled", 0),
            ("{} {:?}", 2),
            ("braces {{}} and {}", 1),
            ("}} {{ {}", 1),
            ("é {}", 1),
        ] {
            assert!(plain_format(m, n), "{m}");
        }
        // Rendered on the calling thread.
        for (m, n) in [
            ("order {id} rejected", 0),
            ("{0} {0}", 1),
            ("{:.2}", 1),
            ("{:>5}", 1),
            ("{:x}", 1),
            ("{:#?}", 1),
            ("{:e}", 1),
            ("{id} and {}", 1),
            ("only braces {{}}", 0),
            ("}}", 0),
            ("{:?", 0),
        ] {
            assert!(!plain_format(m, n), "{m}");
        }
    }

    #[test]
    fn a_raw_identifier_loses_its_prefix() {
        assert_eq!(field_name("r#type"), "type");
        assert_eq!(field_name("rate"), "rate");
        assert_eq!(field_name("r"), "r");
    }
}
