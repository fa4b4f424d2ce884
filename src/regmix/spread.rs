//! A space-filling choice among candidate mixtures: from a pool of draws, the few that lie farthest
//! apart, for searches with a dozen candidates in a few dimensions (mixture reuse,
//! [`crate::regmix::sample::sample_reused`]), where RegMix's sparse draws pile onto a face or a vertex
//! of the simplex by chance.

use crate::regmix::mixture::l1;

/// Draws per candidate a spread selection chooses from ([`spread`]): enough that the pool covers the
/// sampler's support (vertices, faces and interior) many times over for a dozen candidates.
pub const SPREAD_POOL: usize = 50;

/// Greedy maximin selection (a space-filling design, Johnson, Moore & Ylvisaker 1990): `count` rows of
/// `pool`, each in turn the one farthest (L1) from every row already in `fixed` or chosen; ties to the
/// earlier in the pool, so the same pool gives the same rows. Returns `count` rows at most, in the
/// order chosen, and beside each its distance at the choice (to the nearest row in `fixed` or chosen
/// before it; never increasing).
pub fn spread(
    fixed: &[(String, Vec<f64>)],
    pool: Vec<(String, Vec<f64>)>,
    count: usize,
) -> (Vec<(String, Vec<f64>)>, Vec<f64>) {
    // Each pool row's distance to the nearest row kept so far.
    let mut nearest: Vec<f64> = pool
        .iter()
        .map(|(_, w)| {
            fixed
                .iter()
                .map(|(_, f)| l1(w, f))
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let mut taken = vec![false; pool.len()];
    let mut order = Vec::with_capacity(count.min(pool.len()));
    let mut distances = Vec::with_capacity(count.min(pool.len()));
    for _ in 0..count.min(pool.len()) {
        let mut best: Option<usize> = None;
        for (i, &d) in nearest.iter().enumerate() {
            if !taken[i] && best.is_none_or(|b| d > nearest[b]) {
                best = Some(i);
            }
        }
        let Some(best) = best else { break };
        taken[best] = true;
        order.push(best);
        distances.push(nearest[best]);
        for (i, d) in nearest.iter_mut().enumerate() {
            *d = d.min(l1(&pool[i].1, &pool[best].1));
        }
    }
    let mut pool: Vec<Option<(String, Vec<f64>)>> = pool.into_iter().map(Some).collect();
    let rows = order.into_iter().filter_map(|i| pool[i].take()).collect();
    (rows, distances)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_the_farthest_row_then_the_one_farthest_from_both() {
        let row = |id: &str, w: [f64; 3]| (id.to_string(), w.to_vec());
        let fixed = [row("center", [1.0 / 3.0; 3])];
        let pool = vec![
            row("near", [0.4, 0.3, 0.3]),
            row("a", [1.0, 0.0, 0.0]),
            row("near-a", [0.9, 0.1, 0.0]),
            row("b", [0.0, 0.1, 0.9]),
            row("mid", [0.5, 0.0, 0.5]),
        ];
        let ids =
            |rows: Vec<(String, Vec<f64>)>| rows.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        // a is farthest from the center (4/3), then b (1.13 from the center, 2 from a), then mid (2/3
        // from the center, 1 from a and b) before near-a (0.2 from a) and near (0.13 from the center).
        let (chosen, distances) = spread(&fixed, pool.clone(), 3);
        assert_eq!(ids(chosen), ["a", "b", "mid"]);
        let expected = [4.0 / 3.0, 1.0 / 3.0 + 7.0 / 30.0 + 17.0 / 30.0, 2.0 / 3.0];
        for (d, e) in distances.iter().zip(expected) {
            assert!((d - e).abs() < 1e-12, "{distances:?}");
        }
        assert_eq!(
            ids(spread(&fixed, pool.clone(), 9).0).len(),
            5,
            "at most the pool"
        );
        assert_eq!(spread(&fixed, pool.clone(), 3), spread(&fixed, pool, 3));
    }
}
