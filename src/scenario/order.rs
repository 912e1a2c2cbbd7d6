//! The order in which a scenario's symbol definitions are evaluated: every definition
//! after the ones it uses, found in time linear in the number of definitions and uses
//! (a chain of 10,000 symbols once took minutes), without recursion (so a long chain
//! cannot overflow the stack), and cycles reported as such.

/// A dependency cycle: item indices, starting with the item that (through the others)
/// refers to itself.
pub(super) type Cycle = Vec<usize>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    New,
    Open,
    Done,
}

/// Items in an order where each comes after all its `deps` (indices of other items),
/// otherwise in the given order; or the first cycle found.
pub(super) fn dependency_order(deps: &[Vec<usize>]) -> Result<Vec<usize>, Cycle> {
    let n = deps.len();
    let mut state = vec![State::New; n];
    // Per open item: how many of its deps were looked at.
    let mut next = vec![0usize; n];
    let mut order = Vec::with_capacity(n);
    let mut stack: Vec<usize> = Vec::new();
    for root in 0..n {
        if state[root] != State::New {
            continue;
        }
        state[root] = State::Open;
        stack.push(root);
        while let Some(&i) = stack.last() {
            let Some(&d) = deps[i].get(next[i]) else {
                stack.pop();
                state[i] = State::Done;
                order.push(i);
                continue;
            };
            next[i] += 1;
            match state.get(d) {
                Some(State::New) => {
                    state[d] = State::Open;
                    stack.push(d);
                }
                Some(State::Open) => {
                    let at = stack.iter().position(|&s| s == d).unwrap_or(0);
                    return Err(stack[at..].to_vec());
                }
                Some(State::Done) | None => {}
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first() {
        assert_eq!(
            dependency_order(&[vec![2], vec![], vec![1]]),
            Ok(vec![1, 2, 0])
        );
        assert_eq!(dependency_order(&[vec![], vec![]]), Ok(vec![0, 1]));
    }

    #[test]
    fn cycles_are_found() {
        assert_eq!(dependency_order(&[vec![1], vec![0]]), Err(vec![0, 1]));
        assert_eq!(dependency_order(&[vec![], vec![1]]), Err(vec![1]));
        assert_eq!(
            dependency_order(&[vec![1], vec![2], vec![1]]),
            Err(vec![1, 2])
        );
    }

    /// A chain of 100,000 items: no recursion, and each dependency looked at once.
    #[test]
    fn long_chains() {
        let n = 100_000;
        let deps: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
            .collect();
        let order = dependency_order(&deps).expect("no cycle");
        assert_eq!(order.first(), Some(&(n - 1)));
        assert_eq!(order.last(), Some(&0));
    }
}
