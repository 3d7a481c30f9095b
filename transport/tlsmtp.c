/* placeholder, replaced by the agent */
int main(void) { return 75; }
