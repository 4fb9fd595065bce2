//! The macros' misuse fails to compile with an error at the caller's code that says what to
//! do (`tests/ui/*.rs`, each with the compiler's expected output beside it).

#[test]
fn macro_misuse_is_a_compile_error_at_the_call() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
