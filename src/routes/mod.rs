//! One module per area of the HTTP surface (../shared/DESIGN.md, "HTTP surface of the edge").

pub mod health;
