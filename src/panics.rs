//! The text of a caught panic, for the places that catch user code's panics and report them
//! (the collector's supervisor, health checks).

use std::any::Any;

/// The message of a panic's payload: `panic!` with a literal (`&str`) or with format
/// arguments (`String`); `None` for any other payload (`panic_any`), which the caller names.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::panic_text;
    use std::panic::catch_unwind;

    #[test]
    fn panic_payloads_read_as_their_text() {
        let literal = catch_unwind(|| panic!("a literal")).unwrap_err();
        assert_eq!(panic_text(&*literal), Some("a literal"));
        let n = 7;
        let formatted = catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(panic_text(&*formatted), Some("formatted 7"));
        let other = catch_unwind(|| std::panic::panic_any(42u32)).unwrap_err();
        assert_eq!(panic_text(&*other), None);
    }
}
