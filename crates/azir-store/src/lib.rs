//! azir-store
