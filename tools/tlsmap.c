/* placeholder, replaced by the compiler */
int main(void) { return 1; }
