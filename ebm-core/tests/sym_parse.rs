//! The formula parser: print → parse round-trips to the same DAG, errors
//! carry the right line, column and expectation, and no input makes it
//! panic (proptest over random strings and over mutated valid formulas).

use ebm_core::prelude::*;
use ebm_core::sym::{parse, parse_into, parse_with, Graph, SymEnergy, SymError};
use proptest::prelude::*;

const VALID: &[&str] = &[
    "energy(x[2]; mu[2], log_s) = 0.5 * ((x0-mu0)^2 + (x1-mu1)^2) * exp(-2*log_s)",
    "energy(x[3]; mu[3], L[3,3] lower) = 0.5 * sum(j, 0..d, square(sum(i, j..d, L[i,j] * (x[i] - mu[i]))))",
    "let K = 3\nenergy(x[2]; W[K,d]) = sum(k, 0..K, logcosh(sum(i, 0..d, W[k,i] * x[i])))",
    "energy(x[2]; W[2,2], alpha[2]) = sum(k, 0..2, alpha[k] * log1p(0.5 * square(sum(i, 0..d, W[k,i] * x[i]))))",
    "let K = 2;\nenergy(x[2]; logits[K], mu[K,d], log_l[K,d]) =\n  -logsumexp(k, 0..K, logits[k] - logsumexp(j, 0..K, logits[j]) - 0.5 * d * log(2 * pi)\n    + sum(i, 0..d, log_l[k,i]) - 0.5 * sum(i, 0..d, square(exp(log_l[k,i]) * (x[i] - mu[k,i]))))",
    "energy(x[2]; a, b[2]) = -x0^3 + x1^(-2) * a - (x0 - x1) / (b0 - (b1 + a)) + (1 + x0^2)^0.3 + sqrt(1 + x1^2) - (-2.5) * x0",
    "energy(x[2]; c) = tanh(x0) * sigmoid(x1) + softplus(c * x0) - sin(x1) / (2 + cos(x0)) + log(1 + exp(x0)) + logsumexp(x0, x1, 0) + sum(x0, x1 * c, 3)",
    "energy(y[4]; A[4,4]) = 0.5 * sum(i, 0..d, sum(j, 0..d, y[i] * A[i,j] * y[j])) + 1e-3 * sum(i, 0..4, y[i]^4) # a comment",
    "energy(x[1]) = x0 / 3 - 1e20 * x0 + 2.5e-7 * x0^100000 + x0^1e6 - x0 * (x0 * (x0 / (x0 + 1)))",
];

/// print → parse in the same graph gives the same node; through a fresh
/// graph and back also.
fn assert_round_trip(src: &str) {
    let f = parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
    let printed = f.to_source();
    let mut g = f.graph.clone();
    let (sig, id) = parse_into(&mut g, &printed, &[]).unwrap_or_else(|e| panic!("reparse of {printed}: {e}"));
    assert_eq!(id, f.energy, "print → parse changed the DAG:\n{src}\n{printed}");
    assert_eq!(sig, f.signature);
    assert_eq!(g.len(), f.graph.len(), "reparse created new nodes");
    let fresh = parse(&printed).unwrap();
    let (_, id2) = parse_into(&mut g, &fresh.to_source(), &[]).unwrap();
    assert_eq!(id2, f.energy, "round trip through a fresh graph");
}

#[test]
fn print_parse_round_trips() {
    for src in VALID {
        assert_round_trip(src);
    }
}

#[test]
fn equal_subexpressions_are_one_node() {
    let f = parse("energy(x[2]) = exp(x0 * x1) + exp(x1 * x0) + sum(i, 0..2, x[i]) * sum(j, 0..d, x[j])").unwrap();
    // exp(x0·x1) twice → 2·exp(x0x1); the two sums are one node, squared.
    let s = f.to_source();
    assert_eq!(s, "energy(x[2]) = 2 * exp(x[0] * x[1]) + square(x[0] + x[1])", "{s}");
}

fn err(src: &str) -> SymError {
    match parse(src) {
        Err(e) => e,
        Ok(f) => panic!("{src:?} parsed as {}", f.to_source()),
    }
}

#[track_caller]
fn assert_parse_error(src: &str, line: usize, col: usize, expected: &str, found: &str) {
    match err(src) {
        SymError::Parse { line: l, col: c, expected: e, found: f } => {
            assert_eq!((l, c), (line, col), "{src:?}: position (expected {e}, found {f})");
            assert_eq!(e, expected, "{src:?}");
            assert_eq!(f, found, "{src:?}");
        }
        other => panic!("{src:?}: expected a parse error, got {other:?}"),
    }
}

#[track_caller]
fn assert_semantic_error(src: &str, line: usize, col: usize, msg: &str) {
    match err(src) {
        SymError::Semantic { line: l, col: c, message } => {
            assert_eq!((l, c), (line, col), "{src:?}: {message}");
            assert!(message.contains(msg), "{src:?}: {message:?} lacks {msg:?}");
        }
        other => panic!("{src:?}: expected a semantic error, got {other:?}"),
    }
}

#[test]
fn parse_errors_report_line_column_and_expectation() {
    assert_parse_error("energy(x[2]) = x0 +", 1, 20, "an expression", "end of input");
    assert_parse_error("energy(x[2]) = (x0 + x1", 1, 24, "`)`", "end of input");
    assert_parse_error("energy x[2]) = x0", 1, 8, "`(`", "identifier `x`");
    assert_parse_error("energy(x[2]; a b) = a", 1, 16, "`,` or `)`", "identifier `b`");
    assert_parse_error("energy(x[2]) = x0 x1", 1, 19, "an operator or the end of the formula", "identifier `x1`");
    assert_parse_error("energy(x[2]) = x0 @ x1", 1, 19, "a name, a number, an operator or a bracket", "character '@'");
    assert_parse_error("energy(x[2]) = sum(i, 0..d x[i])", 1, 28, "`,` and the term", "identifier `x`");
    assert_parse_error("energy(x[2]) = x[0.5]", 1, 18, "an integer, a size or an index name", "number `0.5`");
    assert_parse_error("x = 3", 1, 1, "`energy` or `let`", "identifier `x`");
    assert_parse_error("", 1, 1, "`energy` or `let`", "end of input");
    assert_parse_error(
        "let K = 2\nenergy(x[2]; W[K,2]) =\n  sum(k, 0..K, W[k,0] * x[0]) +\n  * x1",
        4,
        3,
        "an expression",
        "`*`",
    );
    assert_parse_error("let K = 2\n\n  energy(x[2]; W[K 2]) = 0", 3, 20, "`,` or `]`", "number `2`");
}

#[test]
fn semantic_errors_report_line_and_column() {
    assert_semantic_error("energy(x[2]) = foo(x0)", 1, 16, "unknown function `foo`");
    assert_semantic_error("energy(x[2]) = x[2]", 1, 16, "index 2 out of range 0..2");
    assert_semantic_error("energy(x[2]) = y", 1, 16, "unknown name `y`");
    assert_semantic_error("energy(x[2]; W[2,2]) = W[0]", 1, 24, "has 2 indices");
    assert_semantic_error("energy(x[2]; W[2,2]) = W", 1, 24, "is an array");
    assert_semantic_error("energy(x[2]) = x0 ^ x1", 1, 19, "exponent of `^` must be a constant");
    assert_semantic_error("energy(x[2]; L[2,3] lower) = x0", 1, 14, "two equal trailing extents");
    assert_semantic_error("energy(x[2]; L[2,2] lower) = L[0,1]", 1, 30, "above the diagonal");
    assert_semantic_error("energy(x[2]; a, a) = a", 1, 17, "declared twice");
    assert_semantic_error("energy(x[2]) = sum(k, 0..K, x0)", 1, 26, "unknown size or index `K`");
    assert_semantic_error("energy(x[2]) = logsumexp(k, 0..0, x0)", 1, 16, "empty range");
    assert_semantic_error("energy(x[2]) = sum(x, 0..2, x0)", 1, 20, "already in use");
    assert_semantic_error("energy(x[2]) = 1e999 * x0", 1, 16, "out of range");
    assert_semantic_error("energy(x[1]) = sum(i, 0..1000000000, x0)", 1, 16, "more than");
    assert_semantic_error("let d = 3\nenergy(x[2]) = x0", 2, 8, "`d` is the input dimension");
    let deep = format!("energy(x[1]) = {}x0{}", "(".repeat(5000), ")".repeat(5000));
    assert!(matches!(err(&deep), SymError::Semantic { message, .. } if message.contains("nested deeper")));
    let deep = format!("energy(x[1]) = {}x0", "-".repeat(100_000));
    assert!(matches!(err(&deep), SymError::Semantic { message, .. } if message.contains("nested deeper")));
    // an empty sum is 0, even with extreme bounds
    let f =
        parse("energy(x[1]) = x0 + sum(i, 3..1, x0) + sum(i, 9223372036854775807..-9223372036854775807, x0)").unwrap();
    assert_eq!(f.to_source(), "energy(x[1]) = x[0]");
    assert_semantic_error("energy(x[1]) = sum(i, -9223372036854775807..9223372036854775807, x0)", 1, 16, "more than");
    // sizes from outside take precedence over `let`
    let f = parse_with("let K = 2\nenergy(x[2]; W[K,d]) = W[0,0]", &[("K", 5)]).unwrap();
    assert_eq!(f.signature.num_params(), 10);
}

/// Tokens used to mutate valid formulas.
const PIECES: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ",",
    ";",
    "=",
    "+",
    "-",
    "*",
    "/",
    "^",
    "..",
    ".",
    "0",
    "1",
    "2",
    "9",
    "0.5",
    "1e3",
    "x",
    "x0",
    "x[1]",
    "d",
    "K",
    "i",
    "k",
    "sum(",
    "logsumexp(",
    "exp(",
    "log(",
    "sqrt(",
    "square(",
    "lower",
    "let",
    "energy",
    "pi",
    "\n",
    " ",
    "#",
    "é",
    "1e400",
    "99999999999999999999",
    "-1",
    "W[",
    "mu",
    "sum(i, 0..d, ",
    "x[i]",
];

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    Replace(usize, usize),
    Swap(usize, usize),
}

fn apply(src: &str, muts: &[Mutation]) -> String {
    let mut c: Vec<char> = src.chars().collect();
    for m in muts {
        let n = c.len().max(1);
        match *m {
            Mutation::Delete(at, len) => {
                let at = at % n;
                let end = (at + len % 6 + 1).min(c.len());
                if at < end {
                    c.drain(at..end);
                }
            }
            Mutation::Insert(at, p) => {
                let at = at % (c.len() + 1);
                let piece: Vec<char> = PIECES[p % PIECES.len()].chars().collect();
                c.splice(at..at, piece);
            }
            Mutation::Replace(at, p) => {
                if !c.is_empty() {
                    let at = at % c.len();
                    let piece: Vec<char> = PIECES[p % PIECES.len()].chars().collect();
                    c.splice(at..at + 1, piece);
                }
            }
            Mutation::Swap(a, b) => {
                if !c.is_empty() {
                    let (a, b) = (a % c.len(), b % c.len());
                    c.swap(a, b);
                }
            }
        }
    }
    c.into_iter().collect()
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Delete(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Insert(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Replace(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
    ]
}

/// Whatever parses must round-trip, and a small model must build and
/// evaluate without panicking (NaN is allowed: the formula may be nonsense).
fn exercise(src: &str) {
    let Ok(f) = parse(src) else { return };
    let printed = f.to_source();
    let mut g = f.graph.clone();
    let (_, id) = parse_into(&mut g, &printed, &[]).unwrap_or_else(|e| panic!("{src:?} printed as {printed:?}: {e}"));
    assert_eq!(id, f.energy, "{src:?} printed as {printed:?}");
    let (d, p) = (f.signature.dim, f.signature.num_params());
    if d <= 16 && p <= 256 && f.node_count() <= 400 {
        let m = SymEnergy::<f64>::new(f, &vec![0.3; p]).expect("model");
        let x = vec![0.7; 2 * d];
        let (mut e, mut s, mut h) = (vec![0.0; 2], vec![0.0; 2 * d], vec![0.0; 2 * d]);
        m.energy_score_hess_diag(&x, &mut e, &mut s, &mut h).expect("eval");
        let mut grad = vec![0.0; p];
        m.grad_params_sm(&x, &[1.0, 0.5], &mut grad).expect("grad");
        m.grad_params_v_dot_grad_x(&x, &x, &[1.0, 0.5], &mut grad).expect("grad");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_formula_like_strings(s in "[a-z0-9_\\[\\]\\(\\),;=+\\-*/^. \\n#]{0,80}") {
        let _ = parse(&s);
        let mut g = Graph::new();
        let _ = parse_into(&mut g, &s, &[("K", 3)]);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = parse(&s);
        let _ = parse(&format!("energy(x[2]; w[2]) = {s}"));
    }

    #[test]
    fn mutated_formulas_never_panic_and_round_trip(
        which in 0..VALID.len(),
        muts in proptest::collection::vec(mutation(), 1..4),
    ) {
        let src = apply(VALID[which], &muts);
        exercise(&src);
    }
}

#[test]
fn valid_formulas_exercise_cleanly() {
    for src in VALID {
        exercise(src);
        let m =
            SymEnergy::<f64>::new(parse(src).unwrap(), &vec![0.3; parse(src).unwrap().signature.num_params()]).unwrap();
        assert!(m.dim() >= 1);
    }
}

/// The mutation fuzz is not vacuous: a fixed sample of mutated formulas has
/// a good share that still parses (and so is round-tripped and built).
#[test]
fn mutation_sample_keeps_many_formulas_valid() {
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    };
    let (mut total, mut ok) = (0, 0);
    for _ in 0..3000 {
        let which = next() % VALID.len();
        let muts: Vec<Mutation> = (0..1 + next() % 2)
            .map(|_| match next() % 4 {
                0 => Mutation::Delete(next(), next()),
                1 => Mutation::Insert(next(), next()),
                2 => Mutation::Replace(next(), next()),
                _ => Mutation::Swap(next(), next()),
            })
            .collect();
        let src = apply(VALID[which], &muts);
        total += 1;
        if parse(&src).is_ok() {
            ok += 1;
        }
        exercise(&src);
    }
    println!("{ok} of {total} mutated formulas parse");
    assert!(ok * 30 > total, "only {ok} of {total} mutated formulas parse");
}
