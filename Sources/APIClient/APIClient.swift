// APIClient module
