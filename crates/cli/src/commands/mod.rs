pub mod issue;
pub mod keys;
pub mod merchant;
pub mod tax_id;
pub mod token;
pub mod totals;
pub mod verify;
