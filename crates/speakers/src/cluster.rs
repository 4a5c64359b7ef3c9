//! Average-linkage agglomerative clustering (UPGMA) by the nearest-neighbour chain
//! algorithm: O(n²) time and one n×n distance matrix, exact for average linkage because
//! it is reducible (Müllner, "Modern hierarchical, agglomerative clustering algorithms",
//! 2011).

/// One merge of the dendrogram: clusters represented by items `a` and `b` joined at
/// `distance` (the average distance between their members). The merged cluster is
/// represented by `a` afterwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Merge {
    /// Representative of the surviving cluster.
    pub a: usize,
    /// Representative of the cluster merged into it.
    pub b: usize,
    /// Average linkage distance.
    pub distance: f32,
}

/// The dendrogram of `items` under average linkage on `dist`, merges sorted by distance
/// (`items.len() - 1` of them).
pub fn ahc_average<T>(items: &[T], dist: impl Fn(&T, &T) -> f32) -> Vec<Merge> {
    let n = items.len();
    if n < 2 {
        return Vec::new();
    }
    let mut d = vec![0f32; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let v = dist(&items[i], &items[j]);
            d[i * n + j] = v;
            d[j * n + i] = v;
        }
    }
    let mut size = vec![1usize; n];
    let mut alive = vec![true; n];
    let mut merges = Vec::with_capacity(n - 1);
    let mut chain: Vec<usize> = Vec::new();
    let mut left = n;
    while left > 1 {
        if chain.is_empty() {
            chain.push((0..n).find(|&i| alive[i]).expect("one alive"));
        }
        let a = *chain.last().expect("non-empty");
        let prev = chain.len().checked_sub(2).map(|i| chain[i]);
        // Nearest alive neighbour of a; ties prefer the previous chain element, so the
        // chain always ends in a reciprocal pair.
        let mut best = usize::MAX;
        let mut best_d = f32::INFINITY;
        if let Some(p) = prev {
            best = p;
            best_d = d[a * n + p];
        }
        for j in 0..n {
            if j != a && alive[j] && d[a * n + j] < best_d {
                best = j;
                best_d = d[a * n + j];
            }
        }
        if Some(best) == prev {
            chain.pop();
            chain.pop();
            let (x, y) = (a.min(best), a.max(best));
            merges.push(Merge { a: x, b: y, distance: best_d });
            // Lance-Williams for average linkage: x becomes x ∪ y.
            let (sx, sy) = (size[x] as f32, size[y] as f32);
            for k in 0..n {
                if alive[k] && k != x && k != y {
                    let v = (sx * d[x * n + k] + sy * d[y * n + k]) / (sx + sy);
                    d[x * n + k] = v;
                    d[k * n + x] = v;
                }
            }
            size[x] += size[y];
            alive[y] = false;
            left -= 1;
        } else {
            chain.push(best);
        }
    }
    merges.sort_by(|p, q| p.distance.total_cmp(&q.distance));
    merges
}

/// Flat labels (0..k, in order of first item) from cutting the dendrogram of `n` items at
/// `k` clusters: the `n - k` closest merges are applied.
pub fn cut(n: usize, merges: &[Merge], k: usize) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for m in merges.iter().take(n.saturating_sub(k.max(1))) {
        let (ra, rb) = (root(&mut parent, m.a), root(&mut parent, m.b));
        if ra != rb {
            parent[rb] = ra;
        }
    }
    let mut label = vec![usize::MAX; n];
    let mut out = vec![0; n];
    let mut next = 0;
    for (i, o) in out.iter_mut().enumerate() {
        let r = root(&mut parent, i);
        if label[r] == usize::MAX {
            label[r] = next;
            next += 1;
        }
        *o = label[r];
    }
    out
}
