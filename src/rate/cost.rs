//! What a request costs against the quota.

/// Computes the cost of a request, in quota units.
///
/// Most APIs count one unit per call ([`UnitCost`]); some count by weight
/// (a batch of 100 records, a GraphQL query's points). Any
/// `Fn(&Request) -> u64` is a `Cost`.
pub trait Cost<Request> {
    /// The cost of `request` (0 takes no room but still honours a pause).
    fn cost(&self, request: &Request) -> u64;
}

/// Every request costs one unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitCost;

impl<Request> Cost<Request> for UnitCost {
    fn cost(&self, _: &Request) -> u64 {
        1
    }
}

impl<Request, F> Cost<Request> for F
where
    F: Fn(&Request) -> u64,
{
    fn cost(&self, request: &Request) -> u64 {
        self(request)
    }
}
