// Runtime module
