//! The `Method` enum, one variant per line of `registry.rs`. What each
//! method is and does is asked through `Method::info` and the dispatch in
//! `dispatch.rs`; nothing outside `steer` matches on the variants.

macro_rules! method_enum {
    ($($variant:ident => $imp:path,)+) => {
        /// A decoding method (the list: `registry.rs`; each one's description
        /// and behaviour: its own file).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Method {
            $($variant,)+
        }

        impl Method {
            /// Every method, in the order the page's picker shows them.
            pub const ALL: &'static [Method] = &[$(Method::$variant,)+];
        }
    };
}

for_each_method!(method_enum);

impl Default for Method {
    /// The first of the registry: the plain model.
    fn default() -> Self {
        Method::ALL[0]
    }
}
