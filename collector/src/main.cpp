// Entry point; the command-line interface is being built (see README).
int main() { return 0; }
