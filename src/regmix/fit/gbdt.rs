//! Gradient-boosted regression trees, grown leaf-wise as LightGBM grows them.
//!
//! linfa has no tree ensemble, and RegMix's regressor is LightGBM (1000 trees, learning rate 0.01,
//! 31 leaves, at least 20 runs per leaf). This is that algorithm for squared error, small enough to
//! read: start from the mean, then each tree fits the residuals by repeatedly splitting the leaf
//! whose best split reduces the squared error most, until it has `max_leaves` leaves or no split
//! helps. Splits are exact (every midpoint between distinct values), which LightGBM's 255-bin
//! histograms approximate; with a few hundred runs the histogram buys nothing.
//!
//! Prediction walks flat node arrays, one block of rows through one tree at a time, so the tree stays
//! in cache while a million candidate mixtures are scored.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Settings of the booster. Defaults are RegMix's published LightGBM setting, which every other
/// LightGBM default also matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GbdtParams {
    /// Boosting rounds. RegMix: 1000, no early stopping.
    pub trees: usize,
    /// Shrinkage per tree. RegMix: 0.01.
    pub learning_rate: f64,
    /// Leaves per tree. LightGBM's default `num_leaves` = 31.
    pub max_leaves: usize,
    /// Fewest samples in a leaf. LightGBM's default `min_data_in_leaf` = 20.
    pub min_leaf_samples: usize,
    /// L2 penalty on leaf values. LightGBM's default `lambda_l2` = 0.
    pub l2: f64,
}

impl Default for GbdtParams {
    fn default() -> Self {
        Self {
            trees: 1000,
            learning_rate: 0.01,
            max_leaves: 31,
            min_leaf_samples: 20,
            l2: 0.0,
        }
    }
}

/// One tree as flat arrays: node `i` is a leaf when `feature[i] < 0`; otherwise rows with
/// `x[feature] <= threshold` go to `left[i]`, the rest to `right[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Tree {
    pub feature: Vec<i32>,
    pub threshold: Vec<f64>,
    pub left: Vec<u32>,
    pub right: Vec<u32>,
    /// Leaf outputs, already multiplied by the learning rate (0 for split nodes).
    pub value: Vec<f64>,
}

impl Tree {
    fn predict(&self, row: &[f64]) -> f64 {
        let mut node = 0usize;
        while self.feature[node] >= 0 {
            node = if row[self.feature[node] as usize] <= self.threshold[node] {
                self.left[node] as usize
            } else {
                self.right[node] as usize
            };
        }
        self.value[node]
    }
}

/// A fitted booster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Gbdt {
    pub base: f64,
    pub trees: Vec<Tree>,
}

/// The best split of one leaf.
#[derive(Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    threshold: f64,
}

impl Gbdt {
    /// Fits `y` from the rows of `x` (all rows the same length).
    pub fn fit(x: &[Vec<f64>], y: &[f64], params: &GbdtParams) -> Self {
        let n = y.len();
        let features = x.first().map_or(0, Vec::len);
        let base = y.iter().sum::<f64>() / n.max(1) as f64;
        let mut prediction = vec![base; n];
        // Rows sorted by each feature once; a leaf's rows in feature order are this list filtered.
        let sorted: Vec<Vec<usize>> = (0..features)
            .map(|f| {
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&a, &b| x[a][f].total_cmp(&x[b][f]));
                order
            })
            .collect();
        let mut leaf_of = vec![0u32; n];
        let mut trees = Vec::with_capacity(params.trees);
        for _ in 0..params.trees {
            let residual: Vec<f64> = y.iter().zip(&prediction).map(|(t, p)| t - p).collect();
            let tree = grow(x, &residual, &sorted, &mut leaf_of, params);
            for (row, p) in prediction.iter_mut().enumerate() {
                *p += tree.value[leaf_of[row] as usize];
            }
            trees.push(tree);
        }
        Self { base, trees }
    }

    pub fn predict_one(&self, row: &[f64]) -> f64 {
        self.trees
            .iter()
            .fold(self.base, |sum, tree| sum + tree.predict(row))
    }

    /// Predictions for many rows.
    pub fn predict(&self, rows: &[Vec<f64>]) -> Vec<f64> {
        let dims = rows.first().map_or(0, Vec::len);
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        self.predict_flat(&flat, dims)
    }

    /// Predictions for rows stored one after another in `rows` (`dims` values each), on rayon's
    /// workers. Each worker walks one tree at a time over a block of rows, [`LANES`] rows in lockstep
    /// and without branches (leaves loop to themselves), so the tree stays in cache and the CPU
    /// overlaps the lanes' memory loads: a million candidates through 1000 trees take seconds.
    pub fn predict_flat(&self, rows: &[f64], dims: usize) -> Vec<f64> {
        use rayon::prelude::*;
        const BLOCK: usize = 1024;
        let compiled: Vec<CompiledTree> = self.trees.iter().map(CompiledTree::new).collect();
        let n = rows.len().checked_div(dims).unwrap_or(0);
        let mut out = vec![self.base; n];
        out.par_chunks_mut(BLOCK).enumerate().for_each(|(b, sums)| {
            let block = &rows[b * BLOCK * dims..(b * BLOCK + sums.len()) * dims];
            for tree in &compiled {
                tree.add_to(block, dims, sums);
            }
        });
        out
    }
}

/// Rows walked through a tree together.
const LANES: usize = 8;

/// A tree laid out for branch-free prediction.
struct CompiledTree {
    feature: Vec<u32>,
    threshold: Vec<f64>,
    /// `children[i] = [left, right]`; a leaf's children are itself.
    children: Vec<[u32; 2]>,
    value: Vec<f64>,
    depth: usize,
}

impl CompiledTree {
    fn new(tree: &Tree) -> Self {
        let nodes = tree.feature.len();
        let mut depth_of = vec![0usize; nodes];
        let mut children = Vec::with_capacity(nodes);
        for i in 0..nodes {
            if tree.feature[i] < 0 {
                children.push([i as u32, i as u32]);
            } else {
                children.push([tree.left[i], tree.right[i]]);
            }
        }
        // Children always come after their parent, so one forward pass finds every depth.
        for i in 0..nodes {
            if tree.feature[i] >= 0 {
                for c in children[i] {
                    depth_of[c as usize] = depth_of[i] + 1;
                }
            }
        }
        Self {
            feature: tree.feature.iter().map(|&f| f.max(0) as u32).collect(),
            threshold: tree.threshold.clone(),
            children,
            value: tree.value.clone(),
            depth: depth_of.into_iter().max().unwrap_or(0),
        }
    }

    fn add_to(&self, rows: &[f64], dims: usize, sums: &mut [f64]) {
        let mut lanes = sums.chunks_mut(LANES);
        let mut start = 0;
        for lane_sums in &mut lanes {
            let mut node = [0u32; LANES];
            let width = lane_sums.len();
            for _ in 0..self.depth {
                for (j, n) in node.iter_mut().enumerate().take(width) {
                    let i = *n as usize;
                    let x = rows[(start + j) * dims + self.feature[i] as usize];
                    *n = self.children[i][usize::from(x > self.threshold[i])];
                }
            }
            for (j, sum) in lane_sums.iter_mut().enumerate() {
                *sum += self.value[node[j] as usize];
            }
            start += width;
        }
    }
}

/// Grows one tree on `residual`, leaf-wise. On return `leaf_of[row]` is the node each row ends in.
fn grow(
    x: &[Vec<f64>],
    residual: &[f64],
    sorted: &[Vec<usize>],
    leaf_of: &mut [u32],
    params: &GbdtParams,
) -> Tree {
    let n = residual.len();
    leaf_of.iter_mut().for_each(|l| *l = 0);
    let leaf_value = |rows: &[usize]| {
        rows.iter().map(|&r| residual[r]).sum::<f64>() / (rows.len() as f64 + params.l2)
    };
    let mut tree = Tree {
        feature: vec![-1],
        threshold: vec![0.0],
        left: vec![0],
        right: vec![0],
        value: vec![0.0],
    };
    let all: Vec<usize> = (0..n).collect();
    tree.value[0] = leaf_value(&all);
    // Open leaves with their best split.
    let mut open: Vec<(u32, Option<Split>)> =
        vec![(0, best_split(x, residual, sorted, leaf_of, 0, params))];
    let mut leaves = 1;
    while leaves < params.max_leaves {
        let Some((slot, _)) = open
            .iter()
            .enumerate()
            .filter_map(|(i, (_, s))| s.map(|s| (i, s.gain)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
        else {
            break;
        };
        let (node, split) = open.swap_remove(slot);
        let split = split.expect("chosen leaf has a split");
        let (left, right) = (tree.feature.len() as u32, tree.feature.len() as u32 + 1);
        let node_idx = node as usize;
        tree.feature[node_idx] = split.feature as i32;
        tree.threshold[node_idx] = split.threshold;
        tree.left[node_idx] = left;
        tree.right[node_idx] = right;
        tree.value[node_idx] = 0.0;
        let (mut left_rows, mut right_rows) = (Vec::new(), Vec::new());
        for row in 0..n {
            if leaf_of[row] == node {
                if x[row][split.feature] <= split.threshold {
                    leaf_of[row] = left;
                    left_rows.push(row);
                } else {
                    leaf_of[row] = right;
                    right_rows.push(row);
                }
            }
        }
        for (id, rows) in [(left, &left_rows), (right, &right_rows)] {
            tree.feature.push(-1);
            tree.threshold.push(0.0);
            tree.left.push(0);
            tree.right.push(0);
            tree.value.push(leaf_value(rows));
            open.push((id, best_split(x, residual, sorted, leaf_of, id, params)));
        }
        leaves += 1;
    }
    let rate = params.learning_rate;
    tree.value.iter_mut().for_each(|v| *v *= rate);
    tree
}

/// The split of leaf `node` that most reduces squared error, if any leaves both sides with at least
/// `min_leaf_samples` rows and a positive gain.
fn best_split(
    x: &[Vec<f64>],
    residual: &[f64],
    sorted: &[Vec<usize>],
    leaf_of: &[u32],
    node: u32,
    params: &GbdtParams,
) -> Option<Split> {
    let rows: Vec<usize> = (0..residual.len())
        .filter(|&r| leaf_of[r] == node)
        .collect();
    let count = rows.len();
    let min = params.min_leaf_samples.max(1);
    if count < 2 * min {
        return None;
    }
    let total: f64 = rows.iter().map(|&r| residual[r]).sum();
    let score = |sum: f64, n: usize| sum * sum / (n as f64 + params.l2);
    let parent = score(total, count);
    let mut best: Option<Split> = None;
    let mut ordered = Vec::with_capacity(count);
    for (feature, order) in sorted.iter().enumerate() {
        ordered.clear();
        ordered.extend(order.iter().copied().filter(|&r| leaf_of[r] == node));
        let mut left_sum = 0.0;
        for i in 0..count - 1 {
            left_sum += residual[ordered[i]];
            let left_n = i + 1;
            let (here, next) = (x[ordered[i]][feature], x[ordered[i + 1]][feature]);
            if left_n < min || count - left_n < min || here == next {
                continue;
            }
            let gain = score(left_sum, left_n) + score(total - left_sum, count - left_n) - parent;
            if gain > 1e-12 && best.is_none_or(|b| gain > b.gain) {
                best = Some(Split {
                    gain,
                    feature,
                    threshold: here + (next - here) / 2.0,
                });
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_step_and_an_interaction() {
        // y = 1 when x0 > 0.5, plus 2 when both x0 and x1 exceed 0.5.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..40 {
            for j in 0..10 {
                let (a, b) = (i as f64 / 40.0, j as f64 / 10.0);
                x.push(vec![a, b]);
                y.push(
                    if a > 0.5 { 1.0 } else { 0.0 } + if a > 0.5 && b > 0.5 { 2.0 } else { 0.0 },
                );
            }
        }
        let params = GbdtParams {
            trees: 300,
            learning_rate: 0.1,
            max_leaves: 4,
            min_leaf_samples: 5,
            l2: 0.0,
        };
        let model = Gbdt::fit(&x, &y, &params);
        let predictions = model.predict(&x);
        let worst = predictions
            .iter()
            .zip(&y)
            .map(|(p, t)| (p - t).abs())
            .fold(0.0, f64::max);
        assert!(worst < 0.05, "worst error {worst}");
        assert_eq!(model.predict_one(&[0.9, 0.9]), predictions[39 * 10 + 9]);
        assert!(
            model
                .trees
                .iter()
                .all(|t| t.feature.iter().filter(|f| **f < 0).count() <= 4)
        );
    }
}
