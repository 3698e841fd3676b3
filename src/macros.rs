//! Macros shared by the middleware.

/// `get_ref`, `get_mut` and `into_inner` for a middleware whose wrapped
/// service is its `inner` field and its first type parameter `S`.
macro_rules! inner_access {
    ($service:ident < S $(, $param:ident)* >) => {
        impl<S $(, $param)*> $service<S $(, $param)*> {
            /// The inner service.
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            /// The inner service, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            /// The inner service, consuming the wrapper.
            pub fn into_inner(self) -> S {
                self.inner
            }
        }
    };
}

pub(crate) use inner_access;
