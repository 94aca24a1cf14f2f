/* jpkid: placeholder main, replaced as the foundation lands. */
#include <stdio.h>
int main(void)
{
    fprintf(stderr, "jpkid: not built yet\n");
    return 2;
}
