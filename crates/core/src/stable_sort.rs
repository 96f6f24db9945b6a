//! A stable merge sort for the core's three sorts (the JCS member order, the tax remainder
//! order, the problem order). The standard library's stable sort is a driftsort compiled anew
//! for each element type and comparison: about 20 KB of wasm for our three uses, several KB
//! gzip of the worker (docs/PERFORMANCE.md, "Size"). This one is a few hundred bytes per use
//! and O(n log n) like it, so no input (an object of many keys sent to `/v1/verify`, say)
//! makes it quadratic.

/// Sorts `items` so that no element is preceded by one that `less` puts after it; elements
/// that compare equal keep their order (stable).
pub fn sort_by<T: Copy>(items: &mut [T], mut less: impl FnMut(&T, &T) -> bool) {
    let n = items.len();
    if n < 2 {
        return;
    }
    let mut scratch: Vec<T> = items.to_vec();
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut left, mut right) = (start, mid);
            for slot in &mut scratch[start..end] {
                // Take from the right run only when it is strictly less: that is stability.
                let take_right = left == mid || (right < end && less(&items[right], &items[left]));
                if take_right {
                    *slot = items[right];
                    right += 1;
                } else {
                    *slot = items[left];
                    left += 1;
                }
            }
            start = end;
        }
        items.copy_from_slice(&scratch);
        width *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Equal to the standard library's stable sort, ties included: the pairs' second
        /// member tells the original order apart.
        #[test]
        fn agrees_with_the_standard_stable_sort(keys in proptest::collection::vec(0u8..6, 0..200)) {
            let mut ours: Vec<(u8, usize)> = keys.iter().copied().zip(0..).collect();
            let mut theirs = ours.clone();
            sort_by(&mut ours, |a, b| a.0 < b.0);
            theirs.sort_by_key(|pair| pair.0);
            prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn sorts_small_and_empty_inputs() {
        let mut empty: [u8; 0] = [];
        sort_by(&mut empty, |a, b| a < b);
        let mut one = [7];
        sort_by(&mut one, |a, b| a < b);
        assert_eq!(one, [7]);
        let mut three = [3, 1, 2];
        sort_by(&mut three, |a, b| a > b);
        assert_eq!(three, [3, 2, 1]);
    }
}
